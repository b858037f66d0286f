"""Run a whole scan: discover inputs, run an engine, write the reports, show progress and a summary."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from forensics import __version__
from forensics.config import ScanConfig
from forensics.media.discover import discover
from forensics.report.schema import MEDIA_SCHEMA
from forensics.report.summary import print_summary
from forensics.report.writer import ReportWriter
from forensics.result import MediaResult


@dataclass
class ScanOutcome:
    """What a finished scan wrote and found."""

    media: pa.Table  # the media report's rows
    skipped: list[str]
    elapsed_s: float
    metadata: dict[str, Any]
    nodes: frozenset[str] = field(default_factory=frozenset)  # Ray node ids that did work (ray engine)

    @property
    def fakes(self) -> int:
        return sum(1 for v in self.media.column("verdict").to_pylist() if v == "fake")


def report_metadata(config: ScanConfig, audit: dict[str, Any]) -> dict[str, Any]:
    """The audit record stored in both report files."""
    return {
        "version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "engine": config.engine,
        "config": config.to_dict(),
        **audit,
    }


def run_scan(
    paths: Sequence[str],
    config: ScanConfig,
    out: str | os.PathLike[str],
    quiet: bool = False,
    console: Console | None = None,
    **engine_options: Any,
) -> ScanOutcome:
    """Scan ``paths`` and write the reports at ``out`` (and ``<out>.faces.parquet``).

    ``engine_options`` go to the Ray engine (``ray_address``, ``workers``, ``gpus_per_worker``).
    """
    console = console or Console(stderr=True)
    started = time.perf_counter()
    found = discover(paths)
    results: Iterable[MediaResult]
    if config.engine == "ray":
        from forensics.engines.ray import RayScan

        runner = RayScan(config, **engine_options)
    else:
        from forensics.engines.local import Scanner, scan_local

        runner = Scanner(config)
    metadata = report_metadata(config, runner.audit())
    rows = []
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=quiet, transient=False,
    )
    with progress, ReportWriter(out, metadata) as writer:
        media_task = progress.add_task("media", total=len(found.items))
        frame_task = progress.add_task("frames", total=None)

        def notify(event: str, count: int) -> None:
            progress.advance(media_task if event == "media" else frame_task, count)

        if config.engine == "ray":
            results = runner.scan(found.items, progress=notify)
        else:
            results = scan_local(found.items, config, runner, progress=notify)
        for result in results:
            writer.write(result)
            rows.append(result.media_row())
    media = pa.Table.from_pylist(rows, schema=MEDIA_SCHEMA)
    elapsed = time.perf_counter() - started
    nodes = frozenset(getattr(runner, "nodes_used", ()))
    if not quiet:
        extra = {"report": f"{out} (+ faces), {len(rows)} media in {elapsed:.1f} s"}
        if config.engine == "ray":
            extra["engine"] = f"ray, {len(nodes)} node(s) did the work"
        print_summary(media, console, skipped=len(found.skipped), extra=extra)
    return ScanOutcome(media, found.skipped, elapsed, metadata, nodes)
