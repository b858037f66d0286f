"""The product's commands: scan, report, summary, models, version (one function each, calling the
library)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console

from forensics import __version__
from forensics.config import Cluster, DEFAULT_MODEL, ScanConfig
from forensics.cli.common import (
    EXIT_BROKEN_MODEL, EXIT_ENGINE_FAILED, EXIT_FAKE_FOUND, EXIT_INTERRUPTED, SCAN, Aggregate, Device, Engine, Preset, Runtime, _default, _usage_error, app, err,
)

def _kept(out: Path) -> str:
    """What a stopped scan kept, and how to go on."""
    from forensics.report.journal import journal_path
    from forensics.report.outputs import staged_report

    journal = journal_path(staged_report(out))
    return (f"the media finished so far are kept in {journal}; run the same command with --resume to "
            "finish the scan") if journal.exists() else "nothing was kept"


@app.command(rich_help_panel=SCAN)
def scan(
    paths: List[str] = typer.Argument(..., help="Files, folders (recursively) and bucket URIs (s3://bucket/prefix, gs://…) to scan."),
    out: str = typer.Option("report.parquet", "--out", "-o", help="Media report (Parquet), a path or a bucket URI; faces go to <out>.faces.parquet."),
    thumbnails: Optional[str] = typer.Option(None, "--thumbnails", help="Folder or bucket URI for annotated JPEG thumbnails and each media's most suspicious face crops."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the HTML review here (thumbnails default to <html name>_files/ beside it)."),
    heatmaps: bool = typer.Option(False, "--heatmaps", help="Draw a Grad-CAM heatmap of each kept face crop (needs --thumbnails or --html)."),
    preset: Preset = typer.Option("default", "--preset", help="Named settings: default, fast (8 frames, detection at 480 px) or thorough (2 frames/s, full-size detection, fainter faces); options and --set go over it."),
    settings: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help="Any scan setting by its ScanConfig name, e.g. --set min_face_px=32 (repeatable; over the preset and the options)."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help=f"Frames sampled per video, evenly spaced {_default('frames')}."),
    fps: Optional[float] = typer.Option(None, "--fps", min=0.001, help="Sample this many frames per second instead of --frames."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help=f"Cap on frames per video with --fps {_default('max_frames')}."),
    detect_size: Optional[int] = typer.Option(None, "--detect-size", min=0, help=f"Longest side (px) frames are shrunk to for detection; 0 = full size {_default('detect_size')}."),
    min_face_prob: Optional[float] = typer.Option(None, "--min-face-prob", min=0.0, max=1.0, help=f"Drop detections below this MTCNN probability {_default('min_face_prob')}."),
    keyframe_every: Optional[int] = typer.Option(None, "--keyframe-every", min=1, help=f"Search every k-th sampled frame whole for faces of every size and, between, follow the faces already found (a frame where one is lost is searched whole; 1 = every frame whole) {_default('keyframe_every')}."),
    model: Optional[str] = typer.Option(None, "--model", help=f"One registered model alone, with its shipped weights (see `forensics models`), e.g. {DEFAULT_MODEL}; default: the shipped suite of detectors."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights (.safetensors with a .json card) or a suite card (.json); default: the shipped suite (weights/suite.json)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0, help=f"Score at or above which a media is 'fake' {_default('threshold')}."),
    aggregate: Optional[Aggregate] = typer.Option(None, "--aggregate", help=f"Face scores -> track score; a media takes its most fake track {_default('aggregate')}."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help=f"Face crops per forward pass {_default('batch_size')}."),
    device: Optional[Device] = typer.Option(None, "--device", help=f"auto picks CUDA when available {_default('device')}."),
    runtime: Optional[Runtime] = typer.Option(None, "--runtime", help=f"Classifier runtime: auto (ONNX Runtime on a CPU, PyTorch on a GPU), torch or onnx {_default('runtime')}."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch CPU threads (default: all cores this process may use; with --engine ray: CPUs and threads of each actor, default 1)."),
    engine: Optional[Engine] = typer.Option(None, "--engine", help=f"local (in-process) or ray {_default('engine')}."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster: auto, host:port or ray://host:10001; default starts a local one."),
    workers: Optional[str] = typer.Option(None, "--workers", help="Ray actors per stage: N (fixed) or MIN-MAX (grow and shrink with the work); default: start at what fits the cluster, grow as it grows."),
    gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker", min=0.0, help="GPUs per Ray scoring actor (default: 0.5 when the cluster has GPUs, else 0 = CPU actors)."),
    extract_gpus: float = typer.Option(0.0, "--extract-gpus", min=0.0, help="GPUs per Ray decoding and detecting actor (default 0: CPU actors on every node, apart from GPU scoring)."),
    media_per_batch: int = typer.Option(8, "--media-per-batch", min=1, help="Media whose crops a Ray scoring actor scores together (default 8)."),
    timeout_per_media: Optional[float] = typer.Option(None, "--timeout-per-media", min=1.0, help=f"Seconds of decoding allowed per media; past them the decoder is stopped and the media is an error row {_default('timeout_per_media')}."),
    trust_anchors: Optional[Path] = typer.Option(None, "--trust-anchors", metavar="PEM", help="Root certificates (PEM) a Content Credentials (C2PA) signer must chain to for provenance_status 'valid'; without them a well-formed manifest is 'untrusted', its signer named."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted scan to the same --out from its journal: unchanged media are not scanned again."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out even if it is not a forensics report."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary."),
    fail_on_fake: bool = typer.Option(False, "--fail-on-fake", help=f"Exit {EXIT_FAKE_FOUND} when any verdict is fake."),
) -> None:
    """Scan images and videos; write a per-media and a per-face Parquet report.

    Exit status: 0 done (whatever the verdicts, errors included), 2 usage error (nothing
    scanned), 3 a fake found with --fail-on-fake, 4 the model is broken (non-finite scores),
    5 the Ray scan could not finish, 130 interrupted (the journal keeps the finished media:
    run again with --resume).
    """
    import signal

    from forensics.config import parse_workers
    from forensics.engines.ray import RayScanError
    from forensics.models.weights import WeightsError
    from forensics.report.journal import JournalError
    from forensics.report.schema import faces_path
    from forensics.runner import run_scan
    from forensics.score import BrokenModelError

    if html is not None and html.resolve() in {Path(out).resolve(), faces_path(out).resolve()}:
        raise _usage_error(f"--html {html} would overwrite the report; give the page its own name, e.g. review.html")
    if html is not None and thumbnails is None:
        thumbnails = str(html.with_name(html.stem + "_files"))
    options = dict(locals())  # every option named as its ScanConfig setting, given or not
    config = _scan_config(preset.value, {name: options[name] for name in SCAN_OPTIONS}, settings or [])

    def terminate(signum: int, frame: object) -> None:  # SIGTERM ends the scan as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        outcome = run_scan(paths, config, out, quiet=quiet, resume=resume, overwrite=overwrite, review=html,
                           cluster=Cluster(address=ray_address, workers=parse_workers(workers) if workers else None,
                                           gpus_per_worker=gpus_per_worker, extract_gpus=extract_gpus,
                                           media_per_batch=media_per_batch))
    except (WeightsError, JournalError, ValueError) as exc:
        raise _usage_error(str(exc))
    except BrokenModelError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_BROKEN_MODEL)
    except RayScanError as exc:
        err.print(f"[bold red]error:[/] {exc}; {_kept(out)}")
        raise typer.Exit(EXIT_ENGINE_FAILED)
    except KeyboardInterrupt:
        err.print(f"[bold yellow]interrupted:[/] {_kept(out)}")
        raise typer.Exit(EXIT_INTERRUPTED)
    if fail_on_fake and outcome.fakes:
        raise typer.Exit(EXIT_FAKE_FOUND)


SCAN_OPTIONS = ("frames", "fps", "max_frames", "detect_size", "min_face_prob", "keyframe_every", "model", "weights",
                "threshold", "aggregate", "batch_size", "device", "runtime", "threads", "engine", "thumbnails",
                "heatmaps", "timeout_per_media", "trust_anchors")
"""The options of `forensics scan` that are ScanConfig settings of the same name."""


def _scan_config(preset: str, options: dict[str, Any], settings: List[str]) -> ScanConfig:
    """The scan's settings: the preset, the options given over it (None or False: not given;
    choices and paths as ScanConfig's strings), ``--set KEY=VALUE`` over those. Files it names
    are checked here, before the journal and the models: a usage error says what is wrong."""
    from forensics.config import parse_setting

    given = {name: value.value if isinstance(value, Enum) else str(value) if isinstance(value, Path) else value
             for name, value in options.items() if value is not None and value is not False}
    try:
        given.update(parse_setting(text) for text in settings)
        config = ScanConfig.from_preset(preset, **given)
    except ValueError as exc:
        raise _usage_error(str(exc))
    if config.weights and not Path(config.weights).exists():
        raise _usage_error(f"--weights {config.weights}: no such file")
    if config.trust_anchors is not None:
        from forensics.media.provenance import load_trust_anchors

        try:
            load_trust_anchors(config.trust_anchors)
        except ValueError as exc:
            raise _usage_error(str(exc))
    return config


def _write_review(out: Path, html: Path, quiet: bool = False) -> None:
    from forensics.report.html import write_review

    review = write_review(out, html)
    if not quiet:
        err.print(f"wrote the HTML review {review.path} ({review.media} media, {review.images_linked} images linked); "
                  "open it in a browser")


@app.command(rich_help_panel=SCAN)
def report(
    report: Path = typer.Argument(..., help="A media report written by `forensics scan` (its faces report beside it is read too)."),
    html: Path = typer.Option(..., "--html", help="Write the HTML review here (one file; images stay where the scan wrote them)."),
) -> None:
    """Write the HTML review of an existing report.

    The page: counts, a sortable table, and per media its thumbnail, score over time per
    person, most suspicious faces and heatmaps."""
    if not report.exists():
        raise _usage_error(f"{report}: no such report")
    try:
        _write_review(report, html)
    except OSError as exc:
        raise _usage_error(f"cannot write {html}: {exc.strerror or exc}")
    except Exception as exc:
        raise _usage_error(f"{report} is not a readable forensics report: {exc}")


@app.command(rich_help_panel=SCAN)
def summary(
    report: str = typer.Argument(..., help="A media report written by `forensics scan` (a path or a bucket URI)."),
    verdict: Optional[str] = typer.Option(None, "--verdict", help="List only media with this verdict (fake or real)."),
    status: Optional[str] = typer.Option(None, "--status", help="List only media with this status (ok, no_face, error)."),
    top: int = typer.Option(10, "--top", min=1, help="How many media to list."),
) -> None:
    """Print the summary of an existing report, per-video verdicts first."""
    from forensics.report.summary import ReportError, summarise_report

    if verdict not in (None, "fake", "real"):
        raise _usage_error("--verdict takes fake or real")
    if status not in (None, "ok", "no_face", "error"):
        raise _usage_error("--status takes ok, no_face or error")
    try:
        summarise_report(report, Console(), top=top, verdict=verdict, status=status)
    except ReportError as exc:
        raise _usage_error(str(exc))


@app.command(rich_help_panel=SCAN)
def models() -> None:
    """List registered models and the weights shipped for them."""
    from rich.table import Table

    from forensics.models.catalogue import catalogue

    found, console = catalogue(), Console()
    for title, (columns, rows) in (("Models", found.models), (f"Shipped weights in {found.weights_dir}", found.weights)):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for name in columns:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if found.problem:
        console.print(f"[red]{found.problem}[/]")
    if found.suite:
        console.print(found.suite)


@app.command(rich_help_panel=SCAN)
def version() -> None:
    """Print the version."""
    typer.echo(__version__)
