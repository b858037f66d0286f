"""Scan presets for cluster jobs: named sets of ScanConfig settings.

``fast`` screens a large collection: few frames, detection on small frames. ``thorough``
examines a smaller set closely: two frames per second of video, detection at full
resolution, fainter faces kept. ``default`` is the CLI's defaults. Any setting can still be
overridden on top of a preset (``--set frames=64`` in ``scan_job.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from forensics.config import ScanConfig

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "fast": {
        "frames": 8,  # frames per video, evenly spaced
        "detect_size": 480,  # longest side (px) frames are shrunk to for detection
        "batch_size": 128,  # crops per forward pass
    },
    "thorough": {
        "fps": 2.0,  # two frames per second of video ...
        "max_frames": 600,  # ... at most 600 per video (5 minutes)
        "detect_size": 0,  # detect at full resolution: small faces in 4K footage are kept
        "min_face_prob": 0.8,
        "min_face_px": 20,
    },
}


def preset_config(name: str, **overrides: Any) -> ScanConfig:
    """The ScanConfig of preset ``name`` with ``overrides`` applied; always ``engine="ray"``.

    Raises:
        ValueError: unknown preset or setting, or an invalid value.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    known = {f.name for f in dataclasses.fields(ScanConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; settings: {', '.join(sorted(known))}")
    return ScanConfig(**{**PRESETS[name], **overrides, "engine": "ray"})


def parse_setting(text: str) -> tuple[str, Any]:
    """``key=value`` -> (key, value) with the value typed as ScanConfig's field is (``none`` is None)."""
    key, sep, raw = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(ScanConfig)}
    if not sep or key not in fields:
        raise ValueError(f"--set takes key=value with key one of {', '.join(sorted(fields))}; got {text!r}")
    if raw.lower() in ("none", "null", ""):
        return key, None
    default = fields[key].default
    if isinstance(default, bool):
        return key, raw.lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return key, int(raw)
    if isinstance(default, float) or key == "fps":
        return key, float(raw)
    if key == "threads":
        return key, int(raw)
    return key, raw
