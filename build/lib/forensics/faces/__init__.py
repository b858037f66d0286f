"""Face detection, alignment and tracking."""
