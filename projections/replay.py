"""The projector reads the log with the kernel's reader (crew/replay.py), shared with the
services that follow another context's events."""

from crew.replay import POLL_S, Replay, recorded

__all__ = ["POLL_S", "Replay", "recorded"]
