"""The inference runtime of the face classifier: PyTorch, or ONNX Runtime on a CPU.

PyTorch stays the reference (training, heatmaps, GPUs). On a CPU, ONNX Runtime runs the same
network about twice as fast (measured in ``benchmarks/bench_scan.py``): the network (ensemble
and mirror TTA included) is exported once with ``torch.onnx.export`` into a cache keyed by
the weights' sha256 and the card's network settings, then loaded from there. At load the two
runtimes score the same probe crops; if they disagree by more than :data:`AGREEMENT` the scan
falls back to PyTorch and says why, so a runtime can never change a verdict silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from forensics.models.card import Card

AGREEMENT = 1e-4
"""Largest difference in P(fake) allowed between the runtimes on the load-time probes."""


class RuntimeUnavailable(ValueError):
    """The ONNX runtime cannot run this network here (not installed, export failed, disagreement)."""


def cache_folder() -> Path:
    """Where exported networks are kept: ``$FORENSICS_CACHE/onnx`` (default ``~/.cache/forensics/onnx``)."""
    base = os.environ.get("FORENSICS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "forensics") / "onnx"


def _cache_key(card: "Card") -> str:
    network = {"sha256": card.sha256, "model": card.model, "tta": card.tta, "ensemble": card.get("ensemble")}
    network["torch"] = torch.__version__.split("+")[0]
    return hashlib.sha256(json.dumps(network, sort_keys=True, default=str).encode()).hexdigest()[:20]


class OnnxNetwork:
    """A network exported to ONNX, run by ONNX Runtime on the CPU: float32 (n, C, S, S) -> (n,) logits.

    Args:
        network: the PyTorch module (in eval mode) to export.
        card: its model card (the cache key comes from its sha256 and network settings).
        input_shape: (C, S, S) of one crop.
        threads: intra-op threads of the session (default: torch's).
    """

    def __init__(self, network: nn.Module, card: "Card", input_shape: tuple[int, int, int],
                 threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeUnavailable("onnxruntime is not installed (pip install onnxruntime)") from exc
        path = cache_folder() / f"{card.model}-{_cache_key(card)}.onnx"
        failed = path.with_suffix(".failed")
        if failed.exists():  # this network cannot be exported with this torch: do not retry at every load
            raise RuntimeUnavailable(failed.read_text().strip())
        if not path.exists():
            try:
                _export(network, input_shape, path)
            except RuntimeUnavailable as exc:
                failed.write_text(f"{exc}\n")
                raise
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        return self.session.run(None, {"crops": batch.detach().cpu().contiguous().numpy()})[0].reshape(-1)


def _export(network: nn.Module, input_shape: tuple[int, int, int], path: Path) -> None:
    """Export to ``path`` atomically (scans on other processes may export the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    example = torch.zeros((2, *input_shape))
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(network.cpu().eval(), (example,), str(tmp), input_names=["crops"], output_names=["logits"],
                              dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RuntimeUnavailable(f"the network could not be exported to ONNX: {type(exc).__name__}: {first_line}") from exc
