"""Training views made ahead: pseudo-fakes and augmentations made once, on every core, and
memory-mapped, so that the optimiser's step has the CPU to itself.

Made on the fly (``TrainConfig.views = 0``), every step first self-blends and augments its
batch in the training process, one crop at a time, while the network waits: on a 2-core CPU
that halves the crops trained per second. Made ahead (``views = N``), the training set is
turned into N *views* before the first epoch: view ``v`` is every training crop passed through
the very code the step would run (:func:`forensics.train.augment.self_blend_batch`, then
:func:`forensics.train.augment.augmenter`), with its own seed, by a pool of worker processes.
Epoch ``e`` trains on view ``e mod N``, shuffled anew. The views are ``uint8`` arrays on disk
(N x crops x S x S x 3 bytes: 150 kB a 224-px crop), keyed by the crops, their landmarks and the
settings that make them, so a rerun with the same data and settings (a resumed run, the next
stage of a recipe) reads them instead of making them again; another seed makes new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from forensics.faces.align import CropPolicy

CHUNK = 128
"""Crops per task of the worker pool: a view's randomness depends on the chunk, not the worker."""


@dataclass
class Views:
    """Views of a training set: ``crops`` (N, n, S, S, 3) ``uint8`` (memory-mapped) and their
    ``labels`` (N, n) float32 (1 for a pseudo-fake), ``folder`` where they lie."""

    crops: np.ndarray
    labels: np.ndarray
    folder: Path

    def __len__(self) -> int:
        return len(self.crops)


@dataclass(frozen=True)
class ViewRecipe:
    """What makes a view from a crop: the self-blend mode (None, ``mix`` or ``only``), its mask
    regions, degradation and swap probabilities, the augmentations by name, the crop policy,
    the seed. A swapped pseudo-fake's donor is any real crop of the training set."""

    self_blend: str | None
    blend_regions: tuple[str, ...]
    blend_degrade: float
    augment: tuple[str, ...]
    policy: CropPolicy
    seed: int
    blend_swap: float = 0.0

    def key(self, crops: np.ndarray, landmarks: np.ndarray | None, count: int) -> str:
        digest = hashlib.sha256()
        for chunk in range(0, len(crops), 256):
            digest.update(np.ascontiguousarray(crops[chunk:chunk + 256]).data)
        if landmarks is not None:
            digest.update(np.ascontiguousarray(landmarks).tobytes())
        settings = dict(self.__dict__, policy=self.policy.to_dict(), count=count, shape=list(crops.shape))
        if not self.blend_swap:  # views made before swaps existed keep their key
            del settings["blend_swap"]
        digest.update(json.dumps(settings, sort_keys=True).encode())
        return digest.hexdigest()[:16]


def views_root() -> Path:
    """Where views are kept: ``$FORENSICS_CACHE/views`` or ``~/.cache/forensics/views``."""
    base = os.environ.get("FORENSICS_CACHE")
    return Path(base) / "views" if base else Path.home() / ".cache" / "forensics" / "views"


def make_views(crops: np.ndarray, labels: np.ndarray, landmarks: np.ndarray | None, recipe: ViewRecipe,
               count: int, workers: int | None = None, root: str | os.PathLike[str] | None = None,
               log=print) -> Views:
    """``count`` views of the training crops (see the module doc), made by ``workers`` processes
    (default: every core this process may use), or read back when made before."""
    folder = Path(root or views_root()) / recipe.key(crops, landmarks, count)
    done = folder / "done"
    if done.exists():
        log(f"views: reading {count} made earlier ({folder})")
        return Views(np.load(folder / "crops.npy", mmap_mode="r"), np.load(folder / "labels.npy"), folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "source.npy", crops)
    if landmarks is not None:
        np.save(folder / "landmarks.npy", landmarks)
    np.save(folder / "source-labels.npy", labels.astype(np.float32))
    open_memmap(folder / "crops.npy", mode="w+", dtype=np.uint8, shape=(count, *crops.shape)).flush()
    open_memmap(folder / "labels.npy", mode="w+", dtype=np.float32, shape=(count, len(crops))).flush()
    tasks = [(str(folder), recipe, v, start) for v in range(count) for start in range(0, len(crops), CHUNK)]
    workers = workers or len(os.sched_getaffinity(0))
    log(f"views: making {count} views of {len(crops)} crops with {workers} processes ({folder})")
    if workers <= 1:
        for task in tasks:
            _make_chunk(*task)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_run_chunk, tasks):
                pass
    for name in ("source.npy", "landmarks.npy", "source-labels.npy"):
        (folder / name).unlink(missing_ok=True)
    done.write_text(f"{count} views of {len(crops)} crops\n")
    return Views(np.load(folder / "crops.npy", mmap_mode="r"), np.load(folder / "labels.npy"), folder)


def _run_chunk(task: tuple) -> None:
    _make_chunk(*task)


def _make_chunk(folder: str, recipe: ViewRecipe, view: int, start: int) -> None:
    """One chunk of one view, written in place: self-blend, then augment, as a step would."""
    import torch

    from forensics.train.augment import augmenter, self_blend_batch

    torch.set_num_threads(1)
    base = Path(folder)
    source = np.load(base / "source.npy", mmap_mode="r")
    labels = np.load(base / "source-labels.npy")
    landmarks = np.load(base / "landmarks.npy") if (base / "landmarks.npy").exists() else None
    stop = min(start + CHUNK, len(source))
    pixels, chunk_labels = np.array(source[start:stop]), labels[start:stop].copy()
    seed = [recipe.seed, view, start]
    rng = np.random.default_rng(seed)
    np.random.seed(np.random.SeedSequence(seed).generate_state(1))  # the augmentations draw from numpy's global generator
    if recipe.self_blend:
        share = 0.5 if recipe.self_blend == "only" else 0.25
        donors = (source, landmarks, np.flatnonzero(labels == 0)) if recipe.blend_swap else None  # the whole set
        pixels, chunk_labels = self_blend_batch(pixels, chunk_labels, recipe.policy, rng, share,
                                                None if landmarks is None else landmarks[start:stop],
                                                recipe.blend_regions, recipe.blend_degrade, recipe.blend_swap, donors)
    augment = augmenter(int(np.random.SeedSequence(seed).generate_state(1)[0]), recipe.augment)
    if augment is not None:
        tensor = torch.from_numpy(pixels).permute(0, 3, 1, 2)
        pixels = torch.stack([augment(c) for c in tensor]).permute(0, 2, 3, 1).numpy()
    out = np.load(base / "crops.npy", mmap_mode="r+")
    out[view, start:stop] = pixels
    out.flush()
    out_labels = np.load(base / "labels.npy", mmap_mode="r+")
    out_labels[view, start:stop] = chunk_labels
    out_labels.flush()


def view_of_epoch(views: Views, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The crops and labels epoch ``epoch`` (from 0) trains on."""
    v = epoch % len(views)
    return views.crops[v], views.labels[v]


def recipe_of(config, policy: CropPolicy) -> ViewRecipe:
    """The view recipe of a :class:`forensics.train.config.TrainConfig`."""
    return ViewRecipe(config.self_blend, tuple(config.blend_regions), float(config.blend_degrade),
                      tuple(config.augment), policy, int(config.seed), float(config.blend_swap))

