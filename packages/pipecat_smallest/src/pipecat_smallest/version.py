"""The package version (one place, read by ``__init__`` and the build)."""

__version__ = "0.1.0"
