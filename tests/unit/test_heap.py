"""What a service made while starting is out of the garbage collector's sight once it serves
(a real service process: tests/integration/test_service_heap.py)."""

from __future__ import annotations

import gc

from crew.heap import freeze_startup


def test_what_starting_made_is_left_out_of_later_collections() -> None:
    gc.unfreeze()
    try:
        freeze_startup()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the tests after this one collect as usual
