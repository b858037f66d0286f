"""How a Ray scan spreads over a cluster: one actor pool per stage (extract, score), each sized
and placed from the cluster's resources and the scan's settings (:func:`plan_pools`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from forensics.config import ScanConfig

GPU_SHARE = 0.5  # GPU per scoring actor when the cluster has GPUs: two overlap their CPU and GPU work


@dataclass(frozen=True)
class Pool:
    """One stage's actor pool: Ray Data starts ``initial`` actors and grows the pool up to
    ``max_size`` (None: as far as the cluster grows) while media wait, down to ``min_size``.

    Attributes:
        min_size, initial, max_size: actors (``max_size`` None: no bound but the cluster's).
        cpus: CPUs each actor reserves, possibly a fraction (see :func:`plan_pools`).
        gpus: GPUs each actor reserves (0: a CPU actor).
    """

    min_size: int
    initial: int
    max_size: int | None
    cpus: float
    gpus: float = 0.0

    @property
    def device(self) -> str:
        return "cuda" if self.gpus > 0 else "cpu"

    @property
    def fixed(self) -> bool:
        return self.max_size == self.min_size

    def strategy(self):
        """Ray Data's ``compute`` argument for this pool."""
        from ray.data import ActorPoolStrategy

        if self.fixed:
            return ActorPoolStrategy(size=self.min_size)
        return ActorPoolStrategy(min_size=self.min_size, max_size=self.max_size, initial_size=self.initial)

    def remote_args(self) -> dict[str, Any]:
        return {"num_cpus": self.cpus, "num_gpus": self.gpus or None}


@dataclass(frozen=True)
class PoolPlan:
    """Actor pools of a scan.

    Attributes:
        extract: actors decoding and detecting (each holds an MTCNN and a decode process).
        score: actors scoring and finishing (each holds the classifier).
        threads: torch and OpenCV threads of each actor (``--threads``, default 1).
    """

    extract: Pool
    score: Pool
    threads: int = 1

    @property
    def device(self) -> str:
        """Where the classifier runs (the report's ``device``)."""
        return self.score.device


def plan_pools(resources: dict[str, float], config: ScanConfig, workers: int | tuple[int, int] | None = None,
               gpus_per_worker: float | None = None, extract_gpus: float = 0.0) -> PoolPlan:
    """Size the actor pools for a cluster's resources now (``ray.cluster_resources()``).

    Each actor runs ``config.threads`` torch threads (default 1) and reserves as many CPUs.
    By default the pools *autoscale*: they start at what fits the cluster now (on CPUs a
    quarter of the actors, at least one, score and the rest extract, since detection costs far
    more than scoring) and grow with the work as far as the cluster grows (an autoscaling
    cluster adds nodes for them), shrinking to one actor each when idle. ``workers`` fixes
    both pools' size (an int) or their bounds (``(min, max)``).

    With GPUs, the classifier runs on GPU actors (``gpus_per_worker`` each, default 0.5: two
    per GPU) and decoding and detection on CPU actors over every node's CPUs
    (``extract_gpus`` > 0 puts detection on GPUs too, that share each).

    Where the cluster now has fewer CPUs than one actor of each pool needs, both reserve a
    fraction (a one-CPU machine runs its two actors on half a CPU each) and stay at that size.

    Raises:
        ValueError: ``--device cuda`` or a GPU share on a cluster without GPUs, or ``--device
            cpu`` with a GPU share.
    """
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = float(resources.get("GPU", 0))
    threads = config.threads or 1
    if config.device == "cpu":
        if gpus_per_worker or extract_gpus:
            raise ValueError("a GPU share (--gpus-per-worker, --extract-gpus) contradicts --device cpu")
        gpus_per_worker = 0.0
    elif gpus_per_worker is None:
        gpus_per_worker = GPU_SHARE if gpus >= 1 else 0.0
    if (gpus_per_worker > 0 or extract_gpus > 0) and gpus <= 0:
        raise ValueError("a GPU share (--gpus-per-worker, --extract-gpus) was asked for, but the Ray cluster has no GPU")
    if config.device == "cuda" and gpus_per_worker <= 0:
        raise ValueError("--device cuda was asked for, but the Ray cluster has no GPU" if gpus <= 0
                         else "--device cuda needs --gpus-per-worker > 0")
    if gpus_per_worker > 0:
        score = max(1, math.floor(gpus / (gpus_per_worker + extract_gpus)))
        extract = score if extract_gpus > 0 else max(1, cpus // threads - score)
    else:
        actors = max(2, cpus // threads)
        score = max(1, actors // 4)
        extract = actors - score
    cpus_each = float(threads)
    if isinstance(workers, int):
        extract = score = workers
    elif workers is not None:
        extract = score = workers[0]
    if (extract + score) * threads > cpus:  # fit both pools on the cluster as it is now
        cpus_each = min(float(threads), cpus / (extract + score))
    if isinstance(workers, int):
        bounds: tuple[int | None, ...] = (workers, workers, workers, workers)
    elif workers is not None:
        bounds = (workers[0], workers[1], workers[0], workers[1])
    elif cpus_each < threads:  # fractional actors: no room to grow
        bounds = (extract, extract, score, score)
    else:
        bounds = (1, None, 1, None)
    return PoolPlan(
        Pool(bounds[0], extract, bounds[1], cpus_each, extract_gpus),
        Pool(bounds[2], score, bounds[3], cpus_each, gpus_per_worker),
        threads,
    )
