"""Engines compose the pipeline's stages: ``local`` in-process, ``ray`` on a Ray cluster.

Both implement :class:`~forensics.engines.base.Engine`; :func:`open_engine` opens the one a
config names.
"""

from __future__ import annotations

from forensics.config import Cluster, ScanConfig
from forensics.engines.base import Engine, ProgressCallback, score_and_finish

__all__ = ["Engine", "ProgressCallback", "open_engine", "score_and_finish"]


def open_engine(config: ScanConfig, cluster: Cluster | None = None) -> Engine:
    """The engine ``config.engine`` names, with its models loaded; ``cluster`` is the Ray
    engine's (:class:`forensics.config.Cluster`), refused by the embedded engine.

    Raises:
        ValueError: cluster options for the embedded engine, or a cluster that cannot be reached.
    """
    if config.engine == "ray":
        from forensics.engines.ray import RayEngine

        return RayEngine(config, cluster)
    if cluster is not None and cluster != Cluster():
        raise ValueError("--ray-address, --workers and --gpus-per-worker are for --engine ray")
    from forensics.engines.local import LocalEngine

    return LocalEngine(config)
