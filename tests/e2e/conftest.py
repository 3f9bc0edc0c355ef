from tests.e2e.browsing import browser

__all__ = ["browser"]
