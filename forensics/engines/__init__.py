"""Engines compose the pipeline's stages: ``local`` in-process, ``ray`` on a Ray cluster.

Both implement :class:`~forensics.engines.base.Engine`; :func:`open_engine` opens the one a
config names.
"""

from __future__ import annotations

from typing import Any

from forensics.config import ScanConfig
from forensics.engines.base import Engine, ProgressCallback, score_and_finish

__all__ = ["Engine", "ProgressCallback", "open_engine", "score_and_finish"]


def open_engine(config: ScanConfig, **cluster: Any) -> Engine:
    """The engine ``config.engine`` names, with its models loaded.

    Args:
        cluster: the Ray engine's options (``ray_address``, ``workers``, ``gpus_per_worker``...);
            options left None are dropped, and any other is refused by the embedded engine.
    """
    cluster = {k: v for k, v in cluster.items() if v is not None}
    if config.engine == "ray":
        from forensics.engines.ray import RayEngine

        return RayEngine(config, **cluster)
    if cluster:
        raise ValueError(f"{', '.join(sorted(cluster))}: only for --engine ray")
    from forensics.engines.local import LocalEngine

    return LocalEngine(config)
