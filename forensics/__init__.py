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

__all__ = ["Scanner", "ScanResults", "ScanConfig", "MediaResult", "scan", "__version__",
           "BrokenModelError", "WeightsError", "OutputError", "JournalError", "RayScanError", "DecodeError"]

_API = {"Scanner": "forensics.api", "ScanResults": "forensics.api", "scan": "forensics.api",
        "ScanConfig": "forensics.config", "MediaResult": "forensics.result",
        # the errors a caller may catch: a model whose scores are not numbers, weights that do
        # not match their card, unsafe outputs, a journal that cannot resume, a Ray scan that
        # could not finish, a media that cannot be decoded (the scan itself makes that an error row)
        "BrokenModelError": "forensics.score", "WeightsError": "forensics.models.weights",
        "OutputError": "forensics.report.outputs", "JournalError": "forensics.report.journal",
        "RayScanError": "forensics.engines.ray", "DecodeError": "forensics.media.decode"}


def __getattr__(name: str) -> Any:  # lazy: `import forensics` stays light (no torch) until the API is used
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'forensics' has no attribute {name!r}")
