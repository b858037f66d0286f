"""The lab's commands: train, ensemble, evaluate, weights and suite (they make and measure the
weights the scan ships)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from forensics.cli.common import (
    LAB, Device, _named_paths, _print_written, _usage_error, app, err,
)

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
    blend_swap: float = typer.Option(
        0.0, "--blend-swap", min=0.0, max=1.0,
        help="Probability that a pseudo-fake pastes another real training face (aligned, colour-matched: a swap "
             "between two real people) instead of the crop's own. Default 0."),
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
    from forensics.train.config import TrainConfig, parse_augmentations
    from forensics.train.loop import train as run_training

    if not data.exists():
        raise _usage_error(f"{data}: no such file or folder")
    try:
        config = TrainConfig(
            model=model, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup, patience=patience, select=select,
            augment=parse_augmentations("none" if no_augment else augment), margin=margin, input_size=input_size,
            seed=seed, threads=threads, device=device.value, max_steps=max_steps, sources=list(source or []),
            pretrained=pretrained, self_blend=self_blend, blend_regions=tuple(r.strip() for r in blend_regions.split(",")
                                                                             if r.strip()),
            blend_degrade=blend_degrade, blend_swap=blend_swap, splits=splits and str(splits), video_frames=video_frames,
            teacher=teacher and str(teacher), teacher_view=teacher_view, teacher_temperature=teacher_temperature,
            views=views, balance=balance, freeze=freeze)
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
    from forensics.train.evaluate_report import print_tables

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
              f"sha256 {card.sha256}")


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
    err.print(f"updated {weights.with_suffix('.json')}: evaluation {', '.join(card.get('evaluation'))}; "
              f"licences of {len(card.get('data_licences'))} sources")


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
    err.print(f"wrote {out}: {', '.join(card.families)}")
