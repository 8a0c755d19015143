"""The e2e tier's fixtures (control plane, namespace, kubectl, simulator, operator) are shared with
the other tiers: see tests/support/fixtures.py."""
