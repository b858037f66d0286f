"""Arrow schemas of the two report files and the audit metadata they carry.

``report.parquet`` has one row per media; ``report.faces.parquet`` beside it has one row per
face crop that was scored. Both carry, under the Parquet key-value metadata key
``forensics``, a JSON object with the tool version, the whole scan configuration, the engine,
the model name and the sha256 of its weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from forensics.families import FAMILIES

METADATA_KEY = b"forensics"

TRACK_SCORE = pa.struct([
    pa.field("track_id", pa.int32(), nullable=False),
    pa.field("faces", pa.int32(), nullable=False),
    pa.field("counted", pa.bool_(), nullable=False),  # counts towards the media's score
    pa.field("score", pa.float64(), nullable=False),
    *(pa.field(f"score_{name}", pa.float64()) for name in FAMILIES),
])
"""One track's score in the media row's ``track_scores``."""

MEDIA_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("sha256", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("kind", pa.string(), nullable=False),  # image | video | unknown
        pa.field("status", pa.string(), nullable=False),  # ok | no_face | error
        pa.field("error", pa.string()),
        # what was wrong with the evidence short of an error: damaged data, lost frames
        pa.field("warnings", pa.list_(pa.string()), nullable=False),
        pa.field("score", pa.float64()),  # P(fake) in [0, 1]; null unless status is ok
        # fake | real; null unless status is ok, or fake (family provenance) when the file declares AI
        pa.field("verdict", pa.string()),
        # the family of manipulation whose detector made the verdict fake (a name of FAMILIES), or
        # provenance: the file declares itself generated or edited with generative AI
        pa.field("family", pa.string()),
        # each family's calibrated media score, null where the scorer has no detector for it
        *(pa.field(f"score_{name}", pa.float64()) for name in FAMILIES),
        # what the file declares about its origin (forensics/media/provenance/)
        pa.field("provenance_status", pa.string(), nullable=False),  # none | valid | untrusted | invalid
        pa.field("provenance_ai", pa.bool_()),  # declares generative AI: true; another origin: false; silent: null
        pa.field("provenance", pa.string()),  # one human-readable line; null when the file says nothing
        pa.field("provenance_tool", pa.string()),  # the tool the file names as its maker
        pa.field("provenance_signer", pa.string()),  # the C2PA signing certificate's subject and issuer
        pa.field("provenance_signed_at", pa.string()),  # the C2PA signing time (ISO 8601), with a timestamp
        pa.field("provenance_actions", pa.list_(pa.string()), nullable=False),  # C2PA actions (source type, agent)
        pa.field("provenance_ingredients", pa.list_(pa.string()), nullable=False),  # C2PA ingredients
        pa.field("provenance_traces", pa.list_(pa.string()), nullable=False),  # labels and traces outside C2PA
        pa.field("frames_sampled", pa.int32()),
        pa.field("faces_detected", pa.int32()),
        pa.field("tracks", pa.int32()),
        # each person's (track's) score, as the media's score was taken from it (result.TrackScore)
        pa.field("track_scores", pa.list_(TRACK_SCORE), nullable=False),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("thumbnail", pa.string()),
        pa.field("elapsed_s", pa.float64()),
    ]
)

FACE_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("timestamp_s", pa.float64(), nullable=False),
        pa.field("track_id", pa.int32(), nullable=False),
        pa.field("x1", pa.float32(), nullable=False),
        pa.field("y1", pa.float32(), nullable=False),
        pa.field("x2", pa.float32(), nullable=False),
        pa.field("y2", pa.float32(), nullable=False),
        pa.field("det_prob", pa.float32(), nullable=False),
        # (x, y) of left eye, right eye, nose, left and right mouth corners, flattened
        pa.field("landmarks", pa.list_(pa.float32(), 10), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        *(pa.field(f"score_{name}", pa.float64()) for name in FAMILIES),
    ]
)


def faces_path(report_path: str | Path) -> Path:
    """``report.parquet`` -> ``report.faces.parquet`` (same folder)."""
    path = Path(report_path)
    stem = path.name[: -len(".parquet")] if path.name.endswith(".parquet") else path.name
    return path.with_name(stem + ".faces.parquet")


def with_metadata(schema: pa.Schema, metadata: dict[str, Any]) -> pa.Schema:
    return schema.with_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})


def read_metadata(schema: pa.Schema) -> dict[str, Any]:
    """The audit metadata of a report file's schema ({} when absent)."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}
