"""Shared streaming client core for the Smallest AI Waves TTS API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
