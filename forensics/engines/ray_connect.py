"""Joining a Ray cluster, or starting a local instance bound to 127.0.0.1, and keeping Ray
Data's console output out of the scan's."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from typing import Any, Iterator

from forensics.config import available_cores

LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's environment switch that keeps a local instance, and the nodes it starts, on 127.0.0.1."""

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


def ray_connected() -> bool:
    """True when this process is already connected to Ray (without importing it)."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def connect(address: str | None, num_cpus: int | None) -> bool:
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


class quiet_ray_data:
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
