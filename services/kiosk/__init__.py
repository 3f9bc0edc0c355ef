"""The HTTP face for kiosk tablets: a touch page and a small API over the house's commands."""
