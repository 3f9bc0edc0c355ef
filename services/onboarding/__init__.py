"""Newcomers, the crew registry, and forgetting a person."""
