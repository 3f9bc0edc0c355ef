"""`make bench`: crew under load, next to the raw limits of its own stack measured in the same run."""
