"""The Kubernetes side: token Secret, credentials Secret, status patches, events."""
