"""graphops: wait on Microsoft Graph long-running operations and call back when they end."""

__version__ = "0.1.0"
