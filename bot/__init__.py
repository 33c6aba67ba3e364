"""A self-hosted Discord bot for the Producer (FUZZ) music API."""

__version__ = "0.2.0"
"""The one place the version is written; pyproject.toml reads it from here."""
