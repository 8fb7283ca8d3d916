"""learning-export: anonymized, validated exports of an agent framework's learning data."""

__version__ = "0.1.0"
