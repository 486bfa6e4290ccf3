"""The package version (kept equal to ``pyproject.toml``; a test checks it)."""

__version__ = "0.1.0"
