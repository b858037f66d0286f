"""Media discovery and decoding."""
