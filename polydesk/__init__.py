"""polydesk: multilingual, offline-first support desk toolkit."""

__version__ = "0.1.0"
