"""Helpers shared by the test tiers: real processes (simulator, operator) and ways to talk to them."""
