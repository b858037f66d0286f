"""The ``forensics`` command line. The scanning commands are in :mod:`forensics.cli.product`,
the lab's (train, measure and ship detectors) in :mod:`forensics.cli.lab`; each is listed in its
own panel of ``forensics --help``."""

from __future__ import annotations

import sys

from forensics.cli import product  # noqa: F401  (registers the scanning commands on the app: listed first)
from forensics.cli import lab  # noqa: F401,I001  (registers the lab's commands)
from forensics.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
