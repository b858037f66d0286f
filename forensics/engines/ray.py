"""The Ray engine: the pipeline's stages inside Ray Data, on a local Ray instance or a cluster.

```
media items ──> ExtractStage ───────────────> ScoreStage ───────────────────> driver
(index, path)   actor pool: MTCNN,            actor pool: classifier,         put back in
                decode-detect-crop-track,     score crops, aggregate per      input order,
                one extraction row per media  media, thumbnail: one result    drop duplicates
                                              row per media
```
Rows between stages are plain columns (:mod:`forensics.engines.columns`) with the media's
input ``index``. Execution streams: the driver holds only small result rows, and Ray Data's
backpressure bounds the crops in flight, whatever the number of inputs. Actors that die (a
killed process, a lost node) are restarted and their batches retried; a retried batch's
rows that were already delivered are dropped by index, so the report has each media once.

Without an address a local Ray instance is started for the scan, on 127.0.0.1 only, with
no dashboard, and stopped after it. With one (``auto``, ``host:port``, ``ray://host:10001``)
the scan runs on that cluster; media paths, weights and the thumbnails folder must then be
readable (thumbnails: writable) at the same paths on every node.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import os
import re
import socket
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from forensics.config import Cluster, ScanConfig, available_cores
from forensics.engines.base import ProgressCallback
from forensics.engines.columns import media_item_row, row_to_result
from forensics.media.discover import MediaItem
from forensics.media.provenance import load_trust_anchors, trust_anchors_sha256
from forensics.media.storage import is_remote
from forensics.result import MediaResult


class RayScanError(RuntimeError):
    """The Ray scan could not finish: a batch failed more often than allowed, an actor could
    not start (other weights on its node), or media went missing. Nothing is reported; the
    media finished so far are in the scan's journal."""

WINDOW_MEDIA = 4096
"""Media handed to Ray Data per dataset: the driver holds one window of items (and the results
that wait for a slower media of it), never the whole listing, whatever the number of media."""

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


class RayEngine:
    """The Ray engine (:class:`~forensics.engines.base.Engine`): connects to a cluster (or starts a
    local instance), plans actor pools, runs the pipeline's stages in Ray Data.

    Args:
        config: the scan's configuration; ``config.threads`` is the CPUs (and torch threads)
            of each actor, default 1.
        cluster: where and how wide to run (:class:`forensics.config.Cluster`): its
            ``address`` (None starts a local Ray instance on 127.0.0.1 for this scan and stops
            it afterwards; when this process is already connected to Ray, that connection is
            used and left open), actors per stage, GPUs per actor, media per scoring call,
            retries of a batch whose actor died, CPUs of a local instance.

    Raises:
        WeightsError: the weights are missing or do not match their card (checked here,
            before any actor starts).
        ValueError: the cluster cannot be reached, or the GPU settings do not fit it.
    """

    def __init__(self, config: ScanConfig, cluster: Cluster | None = None):
        from forensics.score import scorer_audit, scorer_for

        cluster = cluster or Cluster()
        self.config = config
        self.cluster = cluster
        self.ray_address = cluster.address
        self.media_per_batch = cluster.media_per_batch
        self.max_task_retries = cluster.max_task_retries
        # read on the driver and sent to the actors, whose nodes may not have the file
        self.trust_anchors = load_trust_anchors(config.trust_anchors)
        # load the weights once here: a bad file fails now, and the audit needs their card
        scorer = scorer_for(dataclasses.replace(config.scoring, runtime="torch"), "cpu")  # audit only: no ONNX export
        self._audit = scorer_audit(scorer)
        del scorer
        self._owns_connection = False
        self._loopback = contextlib.ExitStack()  # undone by close()
        self._notes: set[str] = set()
        try:
            if cluster.address is None and not _ray_connected():
                # before Ray is imported: it reads the switch once, at import
                if not self._loopback.enter_context(loopback_only()):
                    self._notes.add("Ray was imported before this scan could keep its local instance on "
                                    f"127.0.0.1 only; set {LOOPBACK_SWITCH}=0 before importing ray to keep it there")
            import ray

            self._owns_connection = _connect(cluster.address, cluster.num_cpus)
            self.plan = plan_pools(ray.cluster_resources(), config, cluster.workers, cluster.gpus_per_worker,
                                   cluster.extract_gpus)
        except BaseException:
            self.close()
            raise
        self.workers_used: dict[str, set[str]] = {"extract": set(), "score": set()}
        self._attempts: Any = None  # the current dataset's Attempts actor
        self.duplicates_dropped = 0

    def audit(self) -> dict[str, Any]:
        """What the report's metadata records about the model (as ``LocalEngine.audit()``)."""
        return {**self._audit, "device": self.plan.device,
                "trust_anchors_sha256": trust_anchors_sha256(self.trust_anchors)}

    def notes(self) -> list[str]:
        """What the scoring actors said about how their models run (e.g. ONNX Runtime or float16
        unavailable), gathered from the results that came back so far: each actor loads its own."""
        return sorted(self._notes)

    def close(self) -> None:
        """Disconnect from Ray; a local instance this scan started is stopped."""
        if self._owns_connection:
            import ray

            ray.shutdown()
            self._owns_connection = False
        self._loopback.close()

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dataset(self, items: list[MediaItem]):
        """The lazy Ray Dataset of the scan: one result row per item, in any order."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from forensics.engines.ray_extract import Attempts, ExtractStage
        from forensics.engines.ray_score import ScoreStage

        plan, workdir = self.plan, os.getcwd()
        # small input blocks spread the media over the extract actors as they free up
        blocks = max(1, min(len(items), max(4 * plan.extract.initial, math.ceil(len(items) / 4))))
        ds = ray.data.from_items([media_item_row(i, item) for i, item in enumerate(items)],
                                 override_num_blocks=blocks)
        # Ray restarts a dead actor and retries its batch without end; the stages count each
        # media's starts in this actor and make a media an error row once it has killed its
        # worker more than max_task_retries times (a file that crashes a worker cannot hang the scan)
        self._attempts = ray.remote(num_cpus=0)(Attempts).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False),
        ).remote()
        limits = {"attempts": self._attempts, "max_attempts": self.max_task_retries + 1}
        ds = ds.map_batches(
            ExtractStage, batch_size=1, batch_format="numpy",
            fn_constructor_kwargs={"config": self.config, "crop_policy": self._audit["crop_policy"],
                                   "device": plan.extract.device, "threads": plan.threads, "workdir": workdir,
                                   "trust_anchors": self.trust_anchors, **limits},
            compute=plan.extract.strategy(), **plan.extract.remote_args(),
        )
        return ds.map_batches(
            ScoreStage, batch_size=self.media_per_batch, batch_format="numpy",
            fn_constructor_kwargs={"config": self.config, "weights_sha256": self._audit["weights_sha256"],
                                   "device": plan.score.device, "threads": plan.threads, "workdir": workdir, **limits},
            compute=plan.score.strategy(), **plan.score.remote_args(),
        )

    def scan(self, items: Iterable[MediaItem], progress: ProgressCallback | None = None,
             ordered: bool = True) -> Iterator[MediaResult]:
        """Scan media items; yield one result per item, in input order (``ordered=False``: as
        they arrive, so that nothing waits behind a slow media).

        ``progress("media", 1)`` and ``progress("frames", n)`` are called as results arrive
        (in any order). A local instance started by this object is stopped at the end.

        Raises:
            RayScanError: a media's result never came back (its batch failed more than
                ``max_task_retries`` times, or an actor could not start); no partial report is
                written by ``run_scan``.
        """
        notify = progress or (lambda event, n: None)
        try:
            import ray.exceptions

            with _quiet_ray_data():
                for window in _windows(items, WINDOW_MEDIA):
                    try:
                        rows = _rows_or_raise(self.dataset(window).iter_rows(), ray.exceptions.RayError)
                        yield from self._in_input_order(rows, window, notify, ordered)
                    finally:
                        if self._attempts is not None:
                            ray.kill(self._attempts)
                            self._attempts = None
        finally:
            self.close()

    def _in_input_order(self, rows: Iterable[dict[str, Any]], items: list[MediaItem],
                        notify: ProgressCallback = lambda event, n: None,
                        ordered: bool = True) -> Iterator[MediaResult]:
        """Results of result ``rows`` (in any order, possibly repeated) in the order of ``items``
        (``ordered=False``: in the order they arrive); ``notify`` hears of each as it arrives.

        A batch retried after its actor died may deliver rows that already came: they are
        dropped by input index (counted in ``duplicates_dropped``).

        Raises:
            RayScanError: the rows ended with media missing.
        """
        pending: dict[int, MediaResult] = {}
        delivered: set[int] = set()  # unordered: the indices already yielded (one window's at most)
        next_index = 0
        for row in rows:
            index = int(row["index"])
            if index < next_index or index in pending or index in delivered:
                self.duplicates_dropped += 1
                continue
            self.workers_used["extract"].add(str(row["extract_worker"]))
            self.workers_used["score"].add(str(row["score_worker"]))
            if row.get("score_note"):
                self._notes.add(str(row["score_note"]))
            result = self._seen_from_here(row_to_result(row))
            notify("frames", result.frames_sampled)
            notify("media", 1)
            if not ordered:
                delivered.add(index)
                yield result
                continue
            pending[index] = result
            while next_index in pending:
                yield pending.pop(next_index)
                next_index += 1
        arrived = delivered | pending.keys() | set(range(next_index))
        if len(arrived) < len(items):
            missing = [item.path for i, item in enumerate(items) if i not in arrived]
            raise RayScanError(f"the Ray scan lost {len(missing)} media (first: {missing[0]}); "
                               "no report was written")

    def _seen_from_here(self, result: MediaResult) -> MediaResult:
        """Say so when a node could not see a file this machine sees (the media folder is not
        mounted there), or wrote a thumbnail this machine cannot see (nor can the reviewer)."""
        if (result.status == "error" and "No such file or directory" in (result.error or "")
                and not is_remote(result.path) and os.path.exists(result.path)):
            result.error = (f"the node that scanned it cannot see the file ({result.error}), though the machine that "
                            "started the scan can: mount the media at the same path on every node, or scan them "
                            "from a bucket (s3://...)")
        if result.thumbnail and not is_remote(result.thumbnail) and not os.path.exists(result.thumbnail):
            result.warnings.append(f"the thumbnail {result.thumbnail} was written on another node and is not here: "
                                   "give every node the same --thumbnails folder, or a bucket URI")
            self._notes.add("thumbnails were written on nodes where this machine cannot see them (see the "
                            "warnings): give every node the same --thumbnails folder, or a bucket URI")
        return result

    @property
    def nodes_used(self) -> set[str]:
        """Ray node ids whose actors did work in this scan."""
        return {w.split("/")[0] for names in self.workers_used.values() for w in names}


def _windows(items: Iterable[MediaItem], size: int) -> Iterator[list[MediaItem]]:
    """``items`` in consecutive lists of at most ``size``, read from the iterable as needed."""
    iterator = iter(items)
    while window := list(itertools.islice(iterator, size)):
        yield window


def _rows_or_raise(rows: Iterable[dict[str, Any]], errors: type[BaseException]) -> Iterator[dict[str, Any]]:
    try:
        yield from rows
    except errors as exc:  # e.g. a batch whose actor died more often than allowed
        raise RayScanError(f"the Ray scan failed: {_reason(exc)}; no report was written") from exc


def _reason(exc: BaseException) -> str:
    """What a person needs of a Ray error: our own exception's message where an actor raised
    one (Ray wraps it in its traceback), else Ray's first line, without terminal colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    ours = re.findall(r"^forensics\.[\w.]+\.(\w+): (.+)$", text, re.MULTILINE)
    if ours:
        return ours[-1][1]
    return text.splitlines()[0] if text else type(exc).__name__


LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def loopback_only() -> Iterator[bool]:
    """Ray in single-machine mode while inside: nodes use 127.0.0.1, and so listen on loopback only.

    Ray replaces 127.0.0.1 by the machine's network address (so that other machines can
    join), except in its single-machine mode, the one it uses on macOS and Windows. This
    switches that mode on through its environment variable, for this process and the Ray
    processes started from it (which inherit the environment). Ray reads the variable once,
    when it is imported: yields False when Ray was imported before without it (the switch then
    works only for the processes Ray starts, not for the address this process gives them).
    """
    saved = os.environ.get(LOOPBACK_SWITCH)
    effective = saved == "0" or "ray" not in sys.modules
    os.environ[LOOPBACK_SWITCH] = "0"
    try:
        yield effective
    finally:
        if saved is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = saved


def _ray_connected() -> bool:
    """True when this process is already connected to Ray (without importing it)."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray, or start a local instance; True when this call made the connection."""
    import ray

    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is not None:
        _check_reachable(address)
    try:
        if address is None:
            ray.init(num_cpus=num_cpus or available_cores(), include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        where = address or "a local instance"
        raise ValueError(f"cannot start or reach Ray ({where}): {str(exc).strip().splitlines()[0]}") from None
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if address == "auto" or address.startswith("ray://") or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot reach the Ray cluster at {address}: {exc}") from None


class _quiet_ray_data:
    """Silence Ray Data's progress bars and start-of-execution log for the scan's duration."""

    _settings = {"enable_progress_bars": False, "enable_operator_progress_bars": False,
                 "print_on_execution_start": False}
    _loggers = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}

    def __enter__(self) -> None:
        from ray.data import DataContext

        context = DataContext.get_current()
        self._saved = {name: getattr(context, name) for name in self._settings}
        for name, value in self._settings.items():
            setattr(context, name, value)
        # "ray.data" INFO lines, and the one warning that says progress bars are off
        self._levels = {name: logging.getLogger(name).level for name in self._loggers}
        for name, level in self._loggers.items():
            logging.getLogger(name).setLevel(level)

    def __exit__(self, *exc: object) -> None:
        from ray.data import DataContext

        context = DataContext.get_current()
        for name, value in self._saved.items():
            setattr(context, name, value)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
