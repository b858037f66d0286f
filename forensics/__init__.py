"""forensics: a batch forensic scanner that tells real from deepfake faces in images and videos.

The Python API (see :mod:`forensics.api`)::

    from forensics import Scanner
    found = Scanner().scan(["media/"])   # found.media, found.faces: pyarrow Tables
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("forensics")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Scanner", "ScanResults", "ScanConfig", "MediaResult", "scan", "__version__"]

_API = {"Scanner": "forensics.api", "ScanResults": "forensics.api", "scan": "forensics.api",
        "ScanConfig": "forensics.config", "MediaResult": "forensics.result"}


def __getattr__(name: str) -> Any:  # lazy: `import forensics` stays light (no torch) until the API is used
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'forensics' has no attribute {name!r}")
