"""forensics: a batch forensic scanner that tells real from deepfake faces in images and videos."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("forensics")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
