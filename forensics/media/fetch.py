"""The scan's first stage: a media item's content hashed and, for an object in a bucket,
downloaded to a temporary file and sniffed (:func:`fetched`)."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Iterator

from forensics.media import storage
from forensics.media.discover import MediaItem, inspect_file


@dataclass(frozen=True)
class FetchedMedia:
    """A media item ready to decode.

    Attributes:
        item: the item as reported: its path as given (a URI stays one), its kind and problem
            sniffed from the content.
        file: the same media as a local file, what the decoders open (``item`` itself for a
            local file; a temporary download for an object).
        sha256: hex digest of the content; None when it could not be read.
        size_bytes: bytes of content; None when it could not be read.
    """

    item: MediaItem
    file: MediaItem
    sha256: str | None = None
    size_bytes: int | None = None


@contextlib.contextmanager
def fetched(item: MediaItem) -> Iterator[FetchedMedia]:
    """The item hashed and, for an object in a bucket, downloaded to a temporary file (deleted on
    exit) and sniffed. A file or object that cannot be read is a ``problem`` of the item, never
    an exception."""
    if item.problem is not None:
        yield FetchedMedia(item, item)
        return
    if not storage.is_remote(item.path):
        try:
            with open(item.path, "rb") as f:
                sha, size = storage.hashed_copy(f)
        except OSError as exc:
            item = dataclasses.replace(item, problem=f"cannot read the file: {exc.strerror or exc}")
            yield FetchedMedia(item, item)
            return
        yield FetchedMedia(item, item, sha, size)
        return
    download = contextlib.ExitStack()
    try:
        local, sha, size = download.enter_context(storage.downloaded(item.path))
    except OSError as exc:
        item = dataclasses.replace(item, problem=f"cannot read the object: {exc}")
        yield FetchedMedia(item, item)
        return
    with download:
        sniffed = inspect_file(local)
        item = dataclasses.replace(item, kind=sniffed.kind, problem=sniffed.problem)
        if sniffed.problem is not None:  # as for a local file found not to be media: no hash
            yield FetchedMedia(item, item)
            return
        yield FetchedMedia(item, MediaItem(local, sniffed.kind), sha, size)
