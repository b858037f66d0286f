"""Parquet reports, thumbnails and the terminal summary."""
