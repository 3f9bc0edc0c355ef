"""The wire contract of crew: commands, events and replies as frozen msgspec Structs.

Nothing here imports anything else of ours, so other teams can vendor this folder as it is.
Events evolve only by adding fields with defaults; a tag is never renamed or reused.
"""
