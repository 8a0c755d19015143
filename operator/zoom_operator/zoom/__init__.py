"""The Zoom side: typed outcomes, response mapping and the async httpx client (no Kubernetes imports)."""
