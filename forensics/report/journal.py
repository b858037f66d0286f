"""The scan's journal: each media's rows on disk as soon as it is done, so that a killed scan resumes.

``report.parquet.journal`` lives beside the report while a scan runs. Its first line says
which scan wrote it (the settings that decide the results: configuration, model, weights
sha256); each further line is one finished media, its report row and its face rows, as JSON
(Python's JSON keeps floats exact). A line is flushed as soon as it is written, so
``kill -9`` loses at most the media in flight and a half-written last line, which reading
skips. When the scan completes, the Parquet reports are written from the journal in input
order and the journal is deleted.

``forensics scan ... --resume`` reads the journal of the same ``--out``, keeps the media
whose path and content are unchanged, and scans only the rest. "Unchanged" is read from each
media's stamp (size and modification time of a file, size and ETag of an object in a bucket),
so that resuming reads no media again; a journal line without a stamp falls back on the
file's sha256. A journal is locked
while a scan writes it: two scans cannot write the same report at once.

Where each media's line is, and its hash, status and stamp, are indexed in a SQLite file
beside the journal (``report.parquet.journal.index``, rebuilt from the journal when a scan
resumes, deleted with it), not in memory: the driver's memory stays flat however many media
a scan has.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from forensics.report.schema import FACE_SCHEMA, MEDIA_SCHEMA
from forensics.result import MediaResult, printable

FORMAT = "forensics-journal/1"
# settings that do not change a media's rows: a scan may resume with other values
VOLATILE_SETTINGS = ("engine", "threads", "device", "timeout_per_media", "batch_size", "detect_batch")


class JournalError(Exception):
    """The journal cannot be used: locked by another scan, written by other settings, unwritable."""


def journal_path(report: str | os.PathLike[str]) -> Path:
    """``report.parquet`` -> ``report.parquet.journal`` (same folder)."""
    path = Path(report)
    return path.with_name(path.name + ".journal")


def scan_key(metadata: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for two scans to give the same rows: settings, model, weights, crops,
    the trust anchors' content."""
    config = {k: v for k, v in metadata.get("config", {}).items() if k not in VOLATILE_SETTINGS}
    return {"config": config, "model": metadata.get("model"), "weights_sha256": metadata.get("weights_sha256"),
            "crop_policy": metadata.get("crop_policy"), "version": metadata.get("version"),
            "trust_anchors_sha256": metadata.get("trust_anchors_sha256"),
            # a journal's rows have the columns of the version that wrote them
            "report_columns": hashlib.sha256(" ".join(MEDIA_SCHEMA.names + FACE_SCHEMA.names).encode()).hexdigest()[:16]}


@dataclass(frozen=True)
class Entry:
    """Where one media's line is in the journal, and the content hash it was scanned with."""

    offset: int
    sha256: str | None
    status: str
    stamp: str = ""  # the media's size and mtime or ETag when scanned (MediaItem.stamp)
    position: int | None = None  # the media's place among the scan's inputs (None: lines of older versions)


class Index:
    """The journal's entries by report path, in a SQLite file (not in memory), with the media's
    place among the inputs: :meth:`offsets` lists them in that order whatever order they
    finished in (ties, and lines without a place, in the order first written)."""

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)  # a killed scan's index: rebuilt from the journal
        self.path = path
        # the scan's thread writes it while, on --resume, the engine's feeding thread reads it;
        # durability is the journal's, not the index's
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE entry (path TEXT PRIMARY KEY, offset INTEGER, sha256 TEXT, status TEXT, "
                         "stamp TEXT, position INTEGER)")

    def put(self, path: str, entry: Entry) -> None:
        with self._lock:
            self._db.execute("INSERT INTO entry VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                             "offset=excluded.offset, sha256=excluded.sha256, status=excluded.status, "
                             "stamp=excluded.stamp, position=coalesce(position, excluded.position)",
                             (path, entry.offset, entry.sha256, entry.status, entry.stamp, entry.position))

    def get(self, path: str) -> Entry | None:
        with self._lock:
            row = self._db.execute("SELECT offset, sha256, status, stamp, position FROM entry WHERE path = ?",
                                   (path,)).fetchone()
        return Entry(*row) if row else None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM entry").fetchone()[0]

    def offsets(self) -> Iterator[int]:
        """Each path's line, in input order (read as it goes; once the scan has finished writing)."""
        yield from (offset for (offset,) in
                    self._db.execute("SELECT offset FROM entry ORDER BY coalesce(position, -1), rowid"))

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)


@dataclass
class Journal:
    """An open, locked journal. Use :meth:`open`.

    Attributes:
        path: the journal file.
        entries: the media already in it, by report path (the last line of a path wins).
    """

    path: Path
    file: IO[bytes]
    entries: Index = field(init=False)
    header: dict[str, Any] | None = None  # of a resumed journal; None for a new one

    def __post_init__(self) -> None:
        self.entries = Index(self.path.with_name(self.path.name + ".index"))

    @classmethod
    def open(cls, path: Path, resume: bool) -> "Journal":
        """Lock the journal at ``path``: the one of an interrupted scan when ``resume``, else a new one.

        Raises:
            JournalError: another scan holds it, it cannot be written, or ``resume`` finds none.
        """
        if resume and not path.exists():
            raise JournalError(f"--resume: there is no journal {path} to resume (nothing was interrupted?)")
        journal = cls(path, _open_locked(path, truncate=not resume))
        if resume:
            journal.header = journal._read_index()
        return journal

    def begin(self, metadata: dict[str, Any]) -> None:
        """Write a new journal's header, or check that a resumed one was written with these settings.

        Raises:
            JournalError: the resumed journal is not one, or its scan used other settings.
        """
        key = scan_key(metadata)
        if self.header is None:
            self.file.write(_line({"format": FORMAT, "key": key}))
            self.file.flush()
            return
        if self.header.get("format") != FORMAT:
            raise JournalError(f"--resume: {self.path} is not a forensics journal")
        old_key = self.header.get("key", {})
        if old_key == key:
            return
        missing = sorted(set(key) - set(old_key))
        if missing and old_key.get("config") == key["config"]:
            raise JournalError(f"--resume: {self.path} was written by an older forensics that did not record "
                               f"{', '.join(missing)}: its rows lack what this version writes; run again "
                               "without --resume to start afresh")
        raise JournalError(f"--resume: the interrupted scan used other settings ({_differences(old_key, key)}); "
                           "run again with the same options, or without --resume to start afresh")

    def _read_index(self) -> dict[str, Any]:
        """Index the lines already written; cut off a torn last line. Returns the header."""
        self.file.seek(0)
        header: dict[str, Any] = {}
        offset, good_end = 0, 0
        for number, raw in enumerate(iter(self.file.readline, b"")):
            if not raw.endswith(b"\n"):
                break  # torn by a kill while writing
            try:
                record = json.loads(raw)
            except ValueError:
                break
            if number == 0:
                header = record
            else:
                media = record["media"]
                self.entries.put(media["path"], Entry(offset, media.get("sha256"), media.get("status"),
                                                      record.get("stamp", ""), record.get("position")))
            offset += len(raw)
            good_end = offset
        self.file.truncate(good_end)
        self.file.seek(good_end)
        return header

    def done(self, path: str, sha256: str | None) -> bool:
        """True when ``path`` was scanned before with this content (errors without a hash are redone)."""
        entry = self.entries.get(printable(path) or "")
        return entry is not None and entry.sha256 is not None and entry.sha256 == sha256

    def stamped(self, path: str, stamp: str) -> bool | None:
        """True when ``path`` was scanned (with a hash) and its stamp is unchanged, False when it was
        not or the stamp changed, None when the journal has no stamp for it (hash it to know)."""
        entry = self.entries.get(printable(path) or "")
        if entry is None or entry.sha256 is None:
            return False
        if not entry.stamp or not stamp:
            return None
        return entry.stamp == stamp

    def add(self, result: MediaResult, stamp: str = "", position: int | None = None) -> None:
        """Append one finished media (the stamp its item had, and its place among the scan's
        inputs) and flush it to the operating system. Media may finish in any order: the
        report is written in the order of their places."""
        media = result.media_row()
        offset = self.file.seek(0, os.SEEK_END)
        self.file.write(_line({"media": media, "faces": result.face_rows(), "stamp": stamp, "position": position}))
        self.file.flush()
        self.entries.put(media["path"], Entry(offset, media["sha256"], media["status"], stamp, position))

    def rows(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(media row, face rows) of each media in the journal, once each, in input order (a
        media written again, e.g. redone by a resumed scan, keeps its first place and gives its
        last rows)."""
        for offset in self.entries.offsets():
            self.file.seek(offset)
            record = json.loads(self.file.readline())
            yield record["media"], record["faces"]
        self.file.seek(0, os.SEEK_END)

    def close(self, delete: bool = False) -> None:
        """Release the lock and drop the index; ``delete`` removes the file (the report is complete)."""
        self.entries.close()
        if delete:
            self.path.unlink(missing_ok=True)
        self.file.close()


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _open_locked(path: Path, truncate: bool) -> IO[bytes]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(f"cannot write the journal {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(f"another scan is writing {path.name[: -len('.journal')]} right now "
                           f"(its journal {path} is locked)") from None
    if truncate:
        os.ftruncate(fd, 0)
    return os.fdopen(fd, "r+b")


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = []
    for key in sorted(set(old) | set(new)):
        if key == "config":
            a, b = old.get("config", {}), new.get("config", {})
            changed += [f"{k}: {a.get(k)!r} then, {b.get(k)!r} now" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif old.get(key) != new.get(key):
            changed.append(f"{key}: {str(old.get(key))[:16]!r} then, {str(new.get(key))[:16]!r} now")
    return "; ".join(changed)
