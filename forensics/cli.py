"""The ``forensics`` command line: scan, summary, models, train, ensemble, evaluate."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console

from forensics import __version__
from forensics.config import (
    AGGREGATE_STRATEGIES,
    DEFAULT_MODEL,
    DEVICES,
    ENGINES,
    PRESETS,
    RUNTIMES,
    Cluster,
    ScanConfig,
)

app = typer.Typer(
    name="forensics",
    help="Tell real from deepfake faces in images and videos, and say why, in a Parquet report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

LAB = "Lab: train, measure and ship detectors"
"""The --help panel of the commands that make and measure weights, apart from the scanning ones."""
SCAN = "Scan and review"

EXIT_USAGE = 2
EXIT_FAKE_FOUND = 3
EXIT_BROKEN_MODEL = 4
EXIT_ENGINE_FAILED = 5
EXIT_INTERRUPTED = 130


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A typer choice type for one of ScanConfig's settings, with the config's own values."""
    return Enum(name, {value: value for value in values}, type=str)


Aggregate = _choices("Aggregate", AGGREGATE_STRATEGIES)
Device = _choices("Device", DEVICES)
Engine = _choices("Engine", ENGINES)
Runtime = _choices("Runtime", RUNTIMES)
Preset = _choices("Preset", tuple(PRESETS))


def _default(name: str) -> str:
    """``(default: X)`` for a help text: ScanConfig's default of ``name``, the one source of them."""
    value = ScanConfig.default(name)
    return f"(default: {'none' if value is None else value}; or as the --preset sets it)"


def _kept(out: Path) -> str:
    """What a stopped scan kept, and how to go on."""
    from forensics.report.journal import journal_path
    from forensics.runner import staged_report

    journal = journal_path(staged_report(out))
    return (f"the media finished so far are kept in {journal}; run the same command with --resume to "
            "finish the scan") if journal.exists() else "nothing was kept"


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(EXIT_USAGE)


def _named_paths(items: List[str], usage: str, existing: Callable[[Path], bool] = Path.is_file) -> dict[str, Path]:
    """NAME=PATH arguments as a mapping; a usage error (``usage`` says what to give) for the
    first without ``=`` or whose path does not pass ``existing``."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not existing(Path(path)):
            raise _usage_error(f"{item!r}: {usage}")
        named[name] = Path(path)
    return named


def _print_written(card: dict, out: Path) -> None:
    """The test ROC AUC per source of freshly written weights, and where they went."""
    for src, m in card["metrics"].get("test", {}).get("per_source", {}).items():
        auc = m["roc_auc"]
        err.print(f"test {src}: n={m['n']} accuracy {m['accuracy']:.3f} ROC AUC {auc if auc is None else round(auc, 4)}")
    err.print(f"wrote {out} (sha256 {card['sha256'][:16]}…) and its card {out.with_suffix('.json')}")


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

    from forensics.config import parse_setting, parse_workers
    from forensics.engines.ray import RayScanError
    from forensics.models.weights import WeightsError
    from forensics.report.journal import JournalError
    from forensics.report.schema import faces_path
    from forensics.runner import remove_staged, run_scan
    from forensics.score import BrokenModelError

    if html is not None and html.resolve() in {Path(out).resolve(), faces_path(out).resolve()}:
        raise _usage_error(f"--html {html} would overwrite the report; give the page its own name, e.g. review.html")
    if html is not None and thumbnails is None:
        thumbnails = str(html.with_name(html.stem + "_files"))
    given = {
        "frames": frames, "fps": fps, "max_frames": max_frames, "detect_size": detect_size,
        "min_face_prob": min_face_prob, "keyframe_every": keyframe_every, "model": model,
        "weights": str(weights) if weights else None, "threshold": threshold,
        "aggregate": aggregate.value if aggregate else None, "batch_size": batch_size,
        "device": device.value if device else None, "runtime": runtime.value if runtime else None,
        "threads": threads, "engine": engine.value if engine else None,
        "thumbnails": str(thumbnails) if thumbnails else None, "heatmaps": heatmaps or None,
        "timeout_per_media": timeout_per_media, "trust_anchors": str(trust_anchors) if trust_anchors else None,
    }
    try:
        overrides = {k: v for k, v in given.items() if v is not None}
        overrides.update(parse_setting(text) for text in settings or [])
        config = ScanConfig.from_preset(preset.value, **overrides)
    except ValueError as exc:
        raise _usage_error(str(exc))
    weights = Path(config.weights) if config.weights else None
    if weights is not None and not weights.exists():
        raise _usage_error(f"--weights {weights}: no such file")
    if config.trust_anchors is not None:
        from forensics.media.provenance import load_trust_anchors

        try:
            load_trust_anchors(config.trust_anchors)  # before the journal and the models
        except ValueError as exc:
            raise _usage_error(str(exc))

    def terminate(signum: int, frame: object) -> None:  # SIGTERM ends the scan as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        outcome = run_scan(paths, config, out, quiet=quiet, resume=resume, overwrite=overwrite, keep_staged=html is not None,
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
    if html is not None:
        try:
            _write_review(outcome.report or Path(out), html, quiet)
        finally:
            if outcome.report is not None and str(outcome.report) != out:  # a bucket's staged copy
                remove_staged(outcome.report)
    if fail_on_fake and outcome.fakes:
        raise typer.Exit(EXIT_FAKE_FOUND)


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
    import contextlib

    import pyarrow.parquet as pq

    from forensics.media import storage
    from forensics.report.schema import read_metadata
    from forensics.report.summary import print_summary, report_batches

    if verdict not in (None, "fake", "real"):
        raise _usage_error("--verdict takes fake or real")
    if status not in (None, "ok", "no_face", "error"):
        raise _usage_error("--status takes ok, no_face or error")
    with contextlib.ExitStack() as stack:
        source: Any = report
        try:
            if storage.is_remote(report):
                if not storage.exists(report):
                    raise _usage_error(f"{report}: no such report")
                fs, path = storage.filesystem(report)
                source = stack.enter_context(fs.open(path, "rb"))
            elif not Path(report).exists():
                raise _usage_error(f"{report}: no such report")
        except storage.StorageError as exc:
            raise _usage_error(str(exc))
        try:
            schema = pq.read_schema(source)
        except Exception as exc:
            raise _usage_error(f"{report} is not a readable Parquet report: {exc}")
        meta = read_metadata(schema)
        extra = {}
        if meta:
            extra = {"model": f"{meta.get('model')} (weights sha256 {str(meta.get('weights_sha256'))[:12]}…)",
                     "scanned": f"{meta.get('created')} by forensics {meta.get('version')}, engine {meta.get('engine')}"}
        print_summary(report_batches(source), Console(), top=top, verdict=verdict, status=status, extra=extra)


@app.command(rich_help_panel=SCAN)
def models() -> None:
    """List registered models and the weights shipped for them."""
    from rich.table import Table

    from forensics.models import get_model_spec, list_models
    from forensics.aggregate import FAMILIES
    from forensics.models.weights import WeightsError, list_shipped_cards, read_suite, shipped_suite, weights_dir

    table = Table(title="Models", title_justify="left")
    for name in ("model", "input", "shipped weights", "description"):
        table.add_column(name, overflow="fold")
    cards = list_shipped_cards()
    suite = shipped_suite()
    try:
        suite_members = read_suite(suite)["members"] if suite is not None else []
    except WeightsError as exc:
        suite_members = []
        Console().print(f"[red]the shipped suite {suite} cannot be used: {exc}[/]")
    in_suite = {m.get("model") for m in suite_members}
    for name in list_models():
        spec = get_model_spec(name)
        shipped = ", ".join(c.get("file", "?") for c in cards if c.get("model") == name) or "-"
        tag = " (in the default suite)" if name in in_suite else " (default)" if name == DEFAULT_MODEL and not suite_members else ""
        table.add_row(name + tag,
                      f"{spec.input_size}x{spec.input_size}{' gray' if spec.grayscale else ''}", shipped,
                      spec.description)
    console = Console()
    console.print(table)
    if cards:
        weights = Table(title=f"Shipped weights in {weights_dir()}", title_justify="left")
        for name in ("file", "model", "sha256", "held-out ROC AUC"):
            weights.add_column(name, overflow="fold")
        for card in cards:
            aucs = card.get("metrics", {}).get("test", {}).get("per_source", {})
            auc = ", ".join(f"{src} {m.get('roc_auc', float('nan')):.3f}" for src, m in aucs.items()) or "-"
            members = len(card.get("ensemble", {}).get("members", []))
            model = card.get("model", "?") + (f" ×{members}" if members > 1 else "") \
                + (" + mirror" if card.get("tta", "none") == "hflip" else "")
            weights.add_row(card.get("file", "?"), model, card.get("sha256", "?")[:16] + "…", auc)
        console.print(weights)
    if suite_members:
        console.print(f"Default of `forensics scan`: the suite {suite.name}, "
                      + "; ".join(f"{m['family']} ({FAMILIES[m['family']]}): {Path(m['weights']).name}, "
                                  f"logit shift {m.get('calibration', {}).get('logit_shift', 0):+.2f}" for m in suite_members))


@app.command(rich_help_panel=LAB)
def train(
    data: Path = typer.Argument(..., help="CSV manifest (path,label[,source,split]) or folder with real/ and fake/ (optionally under train/ valid/ test/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Weights to write (.safetensors); the card goes beside it (.json)."),
    model: str = typer.Option(..., "--model", help="Registered model to train (see `forensics models`)."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Train on rows of this manifest source only (repeatable)."),
    epochs: int = typer.Option(12, "--epochs", min=1),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr", min=0.0),
    warmup: Optional[float] = typer.Option(
        None, "--warmup", min=0.0, max=0.99,
        help="Fraction of the steps with a linear learning-rate warmup before the cosine decay "
             "(default 0.1 with --pretrained, else 0)."),
    patience: int = typer.Option(4, "--patience", min=1, help="Stop after this many epochs without a better validation AUC."),
    select: str = typer.Option(
        "pooled", "--select",
        help="Validation AUC that picks the best epoch: 'pooled' over all crops, or 'macro', the mean over sources."),
    augment: str = typer.Option(
        "all", "--augment",
        help="Augmentations, comma-separated from flip,affine,colour,downscale,blur,jpeg,video; 'all' or 'none'."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Same as --augment none."),
    margin: float = typer.Option(0.2, "--margin", min=0.0, help="Crop margin per side, fraction of the face box."),
    input_size: Optional[int] = typer.Option(
        None, "--input-size", min=32,
        help="Crop side in pixels to train and scan at (default: the architecture's; e.g. 224 for a 2.3x faster "
             "EfficientNet-Lite2 on a CPU). Globally pooled architectures only."),
    seed: int = typer.Option(0, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
    device: Device = typer.Option(Device.auto, "--device", help="auto picks CUDA when available (bfloat16 autocast there)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps (smoke tests)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Face-crop cache folder (default ~/.cache/forensics/crops)."),
    self_blend: Optional[str] = typer.Option(None, "--self-blend", help="Pseudo-fakes from real faces: 'mix' (with the real fakes) or 'only'."),
    blend_regions: str = typer.Option(
        "forehead,face,inner", "--blend-regions",
        help="Face regions the pseudo-fakes' masks cover, drawn uniformly (forehead, face, inner, lower, mouth); "
             "default the SBI paper's three."),
    blend_degrade: float = typer.Option(
        0.0, "--blend-degrade", min=0.0, max=1.0,
        help="Probability that a pseudo-fake's pasted copy is degraded as a generator's output (downscaled 2-4x "
             "and back, blurred, JPEG). Default 0."),
    splits: Optional[Path] = typer.Option(
        None, "--splits",
        help="Reuse the train/valid/test assignment of an earlier run's <weights>.splits.csv (e.g. for ensemble members)."),
    pretrained: Optional[str] = typer.Option(
        None, "--pretrained",
        help="Start from 'imagenet' (torch hub cache, else a download) or a checkpoint FILE (.safetensors/.pth); "
             "torchvision/timm models only. Default: random initialisation."),
    video_frames: int = typer.Option(
        0, "--video-frames", min=0,
        help="Train on DATA's videos too: this many frames sampled from each, the main person's faces cropped "
             "as a scan crops them; each video lands in one split whole. 0 (default): videos are left out."),
    teacher: Optional[Path] = typer.Option(
        None, "--teacher",
        help="Distil these weights (e.g. the shipped ensemble): train to the teacher's score of each crop "
             "instead of its label. Same crop policy as the student; not with --self-blend."),
    teacher_view: str = typer.Option(
        "crop", "--teacher-view",
        help="What the teacher scores: 'crop' (each training crop once, unaugmented; default) or 'augmented' "
             "(the augmented view the student sees, at every step; slower)."),
    teacher_temperature: float = typer.Option(
        1.0, "--teacher-temperature",
        help="Divide the teacher's and the student's logits by this before the loss (default 1; above 1 "
             "softens the targets); the loss is multiplied by its square."),
    views: int = typer.Option(
        0, "--views-ahead", min=0,
        help="Make N views of the training set (pseudo-fakes and augmentations) before the first epoch, with "
             "every core, cached on disk; epoch e trains on view e mod N and the step has the CPU to itself. "
             "0 (default): made on the fly at every step."),
    balance: str = typer.Option(
        "none", "--balance",
        help="'none' (default: every crop once an epoch) or 'source': draw each (source, label) group alike, "
             "so that a source with many videos does not decide alone."),
    freeze: int = typer.Option(
        0, "--freeze", min=0,
        help="Keep the stem and the first N stages as they start (timm EfficientNets): the backward pass stops "
             "before them (N=3: a Lite0 step about 1.8x faster on a 2-core CPU). 0 (default): train every layer."),
) -> None:
    """Train a model on face crops made by the scan's own detect-and-crop code."""
    from forensics.models import get_model_spec
    from forensics.train.config import AUGMENTATIONS, TrainConfig
    from forensics.train.loop import train as run_training

    try:
        spec = get_model_spec(model)
    except ValueError as exc:
        raise _usage_error(str(exc))
    if pretrained is not None and not spec.accepts_pretrained:
        raise _usage_error(f"--pretrained: model {model!r} trains from scratch; "
                           "pretrained weights exist for the torchvision/timm models only")
    if self_blend not in (None, "mix", "only"):
        raise _usage_error("--self-blend takes mix or only")
    if not data.exists():
        raise _usage_error(f"{data}: no such file or folder")
    if splits is not None and not splits.is_file():
        raise _usage_error(f"--splits {splits}: no such file")
    if teacher is not None and not teacher.is_file():
        raise _usage_error(f"--teacher {teacher}: no such file")
    if no_augment or augment.strip() == "none":
        kinds: tuple[str, ...] = ()
    elif augment.strip() == "all":
        kinds = AUGMENTATIONS
    else:
        kinds = tuple(k.strip() for k in augment.split(",") if k.strip())
    try:
        config = TrainConfig(model=model, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup, patience=patience, select=select,
                             augment=kinds, margin=margin, input_size=input_size, seed=seed, threads=threads, device=device.value, max_steps=max_steps,
                             sources=list(source or []), pretrained=pretrained, self_blend=self_blend,
                             blend_regions=tuple(r.strip() for r in blend_regions.split(",") if r.strip()),
                             blend_degrade=blend_degrade,
                             splits=str(splits) if splits else None, video_frames=video_frames,
                             teacher=str(teacher) if teacher else None, teacher_view=teacher_view,
                             teacher_temperature=teacher_temperature, views=views, balance=balance, freeze=freeze)
        card = run_training(data, out, config, log=lambda line: err.print(line), cache_root=cache).card
    except ValueError as exc:
        raise _usage_error(str(exc))
    _print_written(card, out)


class TTA(str, Enum):
    none = "none"
    hflip = "hflip"


@app.command(rich_help_panel=LAB)
def ensemble(
    members: List[Path] = typer.Argument(..., help="Weights trained by `forensics train` on one split (.safetensors with card and split file)."),
    out: Path = typer.Option(..., "--out", "-o", help="Ensemble weights to write (.safetensors); card and split file go beside it."),
    tta: TTA = typer.Option(TTA.none, "--tta", help="Test-time augmentation: hflip scores each crop and its mirror (2x the cost)."),
    data: Optional[Path] = typer.Option(None, "--data", help="The members' training data, when the path their cards record does not resolve from here."),
    device: Device = typer.Option(Device.auto, "--device", help="auto picks CUDA when available."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Face-crop cache folder (default ~/.cache/forensics/crops)."),
) -> None:
    """Combine models trained on one split: mean logit, temperature refitted, held-out metrics measured."""
    from forensics.models.weights import WeightsError
    from forensics.train.ensemble import ensemble as run_ensemble

    for member in members:
        if not member.exists():
            raise _usage_error(f"{member}: no such file")
    try:
        card = run_ensemble(members, out, tta=tta.value, data=data, cache_root=cache, device=device.value,
                            threads=threads, log=lambda line: err.print(line))
    except (WeightsError, ValueError) as exc:
        raise _usage_error(str(exc))
    _print_written(card, out)


class Split(str, Enum):
    train = "train"
    valid = "valid"
    test = "test"
    all = "all"


@app.command(rich_help_panel=LAB)
def evaluate(
    data: Path = typer.Argument(..., help="CSV manifest, folder with real/ and fake/ (optionally under train/ valid/ test/), or a folder of clips under real/ and fake/."),
    weights: Path = typer.Option(..., "--weights", help="Weights to evaluate (.safetensors with its .json card)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every metric, count and per-media score here (JSON)."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Folder for ROC, precision-recall and confusion-matrix PNGs."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Evaluate rows of this manifest source only (repeatable)."),
    split: Split = typer.Option(Split.test, "--split", help="With the weights' <stem>.splits.csv (or data with its own splits): evaluate this split only; 'all' takes every image."),
    frames: int = typer.Option(32, "--frames", min=1, help="Frames sampled per video, as in `forensics scan`."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Face crops per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help="auto picks CUDA when available."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Face-crop cache folder (default ~/.cache/forensics/crops)."),
) -> None:
    """Measure weights on labelled images (face crops) and videos (the scan pipeline), per source."""
    import json

    from forensics.models.weights import WeightsError
    from forensics.train.evaluate import evaluate as run_evaluation
    from forensics.train.evaluate import print_tables

    if not data.exists():
        raise _usage_error(f"{data}: no such file or folder")
    if not weights.exists():
        raise _usage_error(f"--weights {weights}: no such file")
    try:
        result = run_evaluation(data, weights, split=split.value, sources=list(source or []), plots=plots,
                                cache_root=cache, frames=frames, device=device.value, threads=threads,
                                batch_size=batch_size, log=lambda line: err.print(line))
    except (WeightsError, ValueError) as exc:
        raise _usage_error(str(exc))
    print_tables(result, Console())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        err.print(f"wrote {json_out}")
    for path in result.plots:
        err.print(f"wrote {path}")


weights_app = typer.Typer(help="Prepare weights to ship: float16 storage, one ensemble member, held-out figures on the card.",
                          no_args_is_help=True)
app.add_typer(weights_app, name="weights", rich_help_panel=LAB)


@weights_app.command("halve")
def weights_halve(
    src: Path = typer.Argument(..., help="Weights (.safetensors with its card)."),
    dst: Path = typer.Argument(..., help="Where to write the float16 copy (its card, split and history go beside it)."),
) -> None:
    """Store weights in float16 (half the bytes in git); the network still computes in float32.

    Check with `forensics evaluate` on both files that no figure moves before shipping the copy.
    """
    from forensics.models.weights import WeightsError
    from forensics.train.release import halve_weights

    if not src.is_file():
        raise _usage_error(f"{src}: no such file")
    try:
        card = halve_weights(src, dst)
    except WeightsError as exc:
        raise _usage_error(str(exc))
    err.print(f"{dst}: {dst.stat().st_size / 2**20:.1f} MiB (from {src.stat().st_size / 2**20:.1f} MiB), "
              f"sha256 {card['sha256']}")


@weights_app.command("member")
def weights_member(
    ensemble_weights: Path = typer.Argument(..., help="Ensemble weights (card and split file beside)."),
    index: int = typer.Argument(..., min=0, help="Which member, from 0."),
    out: Path = typer.Option(..., "--out", help="Member weights to write (.safetensors)."),
) -> None:
    """Write one member of an ensemble as weights of its own (card and split file beside), e.g.
    to score it alone or with its mirror (`forensics ensemble OUT --tta hflip`)."""
    from forensics.models.weights import WeightsError
    from forensics.train.release import ensemble_member

    if not ensemble_weights.is_file():
        raise _usage_error(f"{ensemble_weights}: no such file")
    try:
        ensemble_member(ensemble_weights, index, out)
    except WeightsError as exc:
        raise _usage_error(str(exc))
    err.print(f"wrote {out} with its card and split file")


@weights_app.command("card")
def weights_card(
    weights: Path = typer.Argument(..., help="Weights whose card gains the evaluations."),
    reports: Optional[List[str]] = typer.Argument(None, help="NAME=REPORT.json, each written by `forensics evaluate --json` on these weights (or on this suite)."),
    note: Optional[List[str]] = typer.Option(None, "--note", help="NAME=text describing that evaluation (repeatable)."),
    why: Optional[str] = typer.Option(None, "--why", help="Why these weights are the default, on held-out figures."),
    purpose: Optional[str] = typer.Option(None, "--purpose", help="What the detector is for (the card's what_it_is_for)."),
    misses: Optional[str] = typer.Option(None, "--misses", help="What it is known to miss (the card's what_it_misses)."),
    manifests: Optional[List[Path]] = typer.Option(
        None, "--manifest",
        help="Manifests with a licence column, to list each source's licence (repeatable; without one, "
             "every source's licence is unknown)."),
) -> None:
    """Add held-out evaluations (summarised, never copied) and the licences of every source
    trained or evaluated on to a model card."""
    from forensics.models.weights import WeightsError
    from forensics.train.release import add_card_evaluations

    named = _named_paths(reports or [], "give NAME=REPORT.json with an existing report")
    notes = dict(n.split("=", 1) for n in note or [] if "=" in n)
    try:
        card = add_card_evaluations(weights, named, notes, why, purpose=purpose, misses=misses, manifests=manifests or [])
    except WeightsError as exc:
        raise _usage_error(str(exc))
    err.print(f"updated {weights.with_suffix('.json')}: evaluation {', '.join(card['evaluation'])}; "
              f"licences of {len(card['data_licences'])} sources")


suite_app = typer.Typer(help="Put detectors of several families together into one suite, calibrated on real videos.",
                        no_args_is_help=True)
app.add_typer(suite_app, name="suite", rich_help_panel=LAB)


@suite_app.command("build")
def suite_build(
    out: Path = typer.Argument(..., help="Suite card to write (.json); members' paths are stored relative to it."),
    member: List[str] = typer.Option(..., "--member", help="FAMILY=WEIGHTS (.safetensors with its card), e.g. blend=weights/blend.safetensors (repeatable)."),
    reals: Path = typer.Option(..., "--reals", help="Real videos to calibrate on (manifest or folder, as `forensics evaluate` reads): none a member trained on."),
    rate: float = typer.Option(0.05, "--rate", min=0.0, max=0.99, help="Share of its calibration videos each family may flag at the threshold (0: none; then n videos bound the rate below about 3/n at 95% confidence)."),
    reals_for: List[str] = typer.Option([], "--reals-for", help="FAMILY=REAL_VIDEOS: more real videos to calibrate one family on, that it never trained on though another member did (repeatable)."),
    name: str = typer.Option("suite", "--name", help="The suite's name, shown in reports."),
    frames: int = typer.Option(32, "--frames", min=1, help="Frames sampled per video (as `forensics scan`)."),
    device: Device = typer.Option(Device.auto, "--device"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
    images: Optional[Path] = typer.Option(None, "--images", help="Labelled still images no member trained on (validation): calibrate every family on stills apart (--image-rate of the real ones flagged) and keep for stills the families that rank them best."),
    image_rate: float = typer.Option(0.05, "--image-rate", min=0.0, max=0.99, help="Share of the real --images each family may flag (default 0.05)."),
) -> None:
    """Write a suite card naming one detector per family, each calibrated so that at most
    --rate of the given real videos are flagged by it at the scan's threshold."""
    from forensics.models.weights import WeightsError
    from forensics.train.suite import build_suite

    members = _named_paths(member, "--member: give FAMILY=WEIGHTS with an existing weights file")
    if not reals.exists():
        raise _usage_error(f"--reals {reals}: no such file or folder")
    more = _named_paths(reals_for, "--reals-for: give FAMILY=REAL_VIDEOS with an existing manifest or folder", Path.exists)
    if images is not None and not images.exists():
        raise _usage_error(f"--images {images}: no such file or folder")
    try:
        card = build_suite(out, members, reals, rate, name, frames, device.value, threads, log=err.print, reals_for=more,
                           images=images, image_rate=image_rate)
    except (ValueError, WeightsError) as exc:
        raise _usage_error(str(exc))
    err.print(f"wrote {out}: {', '.join(m['family'] for m in card['members'])}")


@app.command(rich_help_panel=SCAN)
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
