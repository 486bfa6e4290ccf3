"""Smallest AI text-to-speech for Langchain (adapter lands in its own issue)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
