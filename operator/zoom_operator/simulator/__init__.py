"""The Zoom simulator: a stateful HTTP server that behaves like Zoom, with an admin API under /_sim."""
