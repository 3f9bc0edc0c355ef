"""The daily joint meal."""
