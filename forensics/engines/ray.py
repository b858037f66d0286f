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
import math
import os
import re
from typing import Any, Iterable, Iterator

from forensics.config import Cluster, ScanConfig
from forensics.engines.base import ProgressCallback
from forensics.engines.columns import media_item_row, row_to_result
from forensics.engines.ray_connect import LOOPBACK_SWITCH, connect, quiet_ray_data, ray_connected, loopback_only
from forensics.engines.ray_plan import plan_pools
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
            if cluster.address is None and not ray_connected():
                # before Ray is imported: it reads the switch once, at import
                if not self._loopback.enter_context(loopback_only()):
                    self._notes.add("Ray was imported before this scan could keep its local instance on "
                                    f"127.0.0.1 only; set {LOOPBACK_SWITCH}=0 before importing ray to keep it there")
            import ray

            self._owns_connection = connect(cluster.address, cluster.num_cpus)
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

            with quiet_ray_data():
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
