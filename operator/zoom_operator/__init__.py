"""zoom-operator: the cluster's single minter of Zoom Server-to-Server OAuth tokens."""

__version__ = "0.1.0"
