"""The rota: recurring series, their occurrences, and who is in."""
