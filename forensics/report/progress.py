"""A scan's progress: a live bar on a terminal, a plain line now and then in a log."""

from __future__ import annotations

import os
import threading
import time
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class ScanProgress:
    """The bars (media and frames) and, where stderr is not a terminal, the periodic lines of
    :class:`ProgressLines`; a context. ``notify(event, count)`` advances one (``"media"`` or
    ``"frames"``), ``counted(total)`` sets the number of media once the walk has counted them."""

    def __init__(self, console: Console, quiet: bool):
        self.bars = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=console, disable=quiet, transient=False)
        self.lines = ProgressLines(console, enabled=not quiet and not console.is_terminal)

    def __enter__(self) -> "ScanProgress":
        self.bars.__enter__()
        self.lines.__enter__()
        self._media = self.bars.add_task("media", total=None)
        self._frames = self.bars.add_task("frames", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lines.__exit__(*exc)
        self.bars.__exit__(*exc)

    def notify(self, event: str, count: int) -> None:
        self.bars.advance(self._media if event == "media" else self._frames, count)
        self.lines.advance(event, count)

    def counted(self, total: int) -> None:
        self.bars.update(self._media, total=total)
        self.lines.total = total


PROGRESS_EVERY_S = 30.0
"""Seconds between two progress lines where stderr is not a terminal (``$FORENSICS_PROGRESS_EVERY``
overrides it)."""


class ProgressLines:
    """Progress for logs that are not a terminal (`ray job logs`, CI, a file), where a live bar
    shows nothing until the end: one plain line every :data:`PROGRESS_EVERY_S` seconds,
    including while nothing has finished yet."""

    def __init__(self, console: Console, enabled: bool):
        self.console, self.enabled = console, enabled
        self.every_s = float(os.environ.get("FORENSICS_PROGRESS_EVERY") or PROGRESS_EVERY_S)
        self.media = self.frames = 0
        self.total: int | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forensics-progress", daemon=True)

    def advance(self, event: str, count: int) -> None:
        if event == "media":
            self.media += count
        else:
            self.frames += count

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        total = f"/{self.total}" if self.total is not None else ""
        rate = f", {self.media / elapsed:.1f} media/s" if self.media and elapsed > 0 else ""
        return f"progress: {self.media}{total} media, {self.frames} frames, {elapsed / 60:.1f} min{rate}"

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.console.print(self.line(), highlight=False, soft_wrap=True)

    def __enter__(self) -> "ProgressLines":
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
