"""Walk files and folders into media items; decide each file's kind by its content.

Order is deterministic: the paths in the order given, each folder walked depth-first with
entries sorted by name. A file met while walking a folder is kept when its content or its
extension says image or video (so a text file renamed ``.jpg`` becomes an error row, not a
silent skip); anything else there is skipped and counted. A path named explicitly is always
kept: if it cannot be read as media its row says why.

A URI (``s3://bucket/prefix``, any fsspec URI: :mod:`forensics.media.storage`) is listed, not
read: an object under a prefix is kept when its extension says image or video (reading every
object's first bytes would pass them all through the machine that lists), and its content is
sniffed where it is downloaded for decoding.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Literal

from forensics.media import storage

MediaKind = Literal["image", "video", "unknown"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"})
SNIFF_BYTES = 16

# ISO-BMFF (mp4/mov) box types that may open a file
_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
# ISO-BMFF brands of still images (HEIF/AVIF: the same container as MP4, with a picture inside)
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")


@dataclass(frozen=True)
class MediaItem:
    """One input to scan: its path as given or found, and its sniffed kind.

    ``problem`` is set when the file could not be sniffed (unreadable, empty, not media);
    such an item still yields a report row, with status ``error``. ``stamp`` says whether the
    content changed since a journal saw it without reading it again: size and modification
    time of a local file, size and ETag of an object ("" when unknown).
    """

    path: str
    kind: MediaKind
    problem: str | None = None
    stamp: str = ""


@dataclass
class Discovery:
    """What a walk found: media items in order, and the non-media files skipped."""

    items: list[MediaItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def sniff_kind(head: bytes) -> MediaKind:
    """Kind of a file from its first bytes (at least 12): image, video or unknown."""
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head.startswith(b"BM") or head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "image"
    if head[4:8] in _BMFF_BOXES:
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska and WebM
        return "video"
    return "unknown"


def _kind_from_extension(path: str) -> MediaKind:
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return "unknown"


def _not_a_file(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not opened (reading a FIFO or a device can block forever)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file: not opened, reading it could wait forever"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file: not opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file: not opened"
    return "not a regular file: not opened"


def inspect_file(path: str) -> MediaItem:
    """Sniff one file. Never raises: problems are carried in ``MediaItem.problem``.

    Special files (FIFOs, sockets, devices) are refused from their metadata, without
    opening them.
    """
    try:
        problem = _not_a_file(os.stat(path).st_mode)
    except FileNotFoundError:
        return MediaItem(path, _kind_from_extension(path), "no such file (or a broken link)")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return MediaItem(path, _kind_from_extension(path), "a loop of symbolic links: it never reaches a file")
        problem = None  # let open() say what is wrong
    if problem is not None:
        return MediaItem(path, "unknown" if problem == "is a directory" else _kind_from_extension(path), problem)
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except IsADirectoryError:
        return MediaItem(path, "unknown", "is a directory")
    except FileNotFoundError:
        return MediaItem(path, _kind_from_extension(path), "no such file (or a broken link)")
    except PermissionError:
        return MediaItem(path, _kind_from_extension(path), "permission denied: the file cannot be read")
    except OSError as exc:
        return MediaItem(path, _kind_from_extension(path), f"cannot read the file: {exc.strerror or exc}")
    kind = sniff_kind(head)
    if kind != "unknown":
        return MediaItem(path, kind, stamp=storage.local_stamp(path))
    claimed = _kind_from_extension(path)
    if not head:
        return MediaItem(path, claimed, "empty file (0 bytes)")
    return MediaItem(
        path,
        claimed,
        f"not a recognised image or video: content starts with {head[:8]!r}",
    )


def _walk(folder: str, prune: list[str] | None = None) -> Iterable[str]:
    """Files under ``folder``, depth-first, entries sorted by name; links to folders not
    followed; folders whose real path is in ``prune`` not entered."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if not prune or os.path.realpath(entry.path) not in prune:
                yield from _walk(entry.path, prune)
        else:
            yield entry.path


def walk_media(paths: Iterable[str | os.PathLike[str]], skipped: Callable[[str], None] | None = None
               ) -> Iterator[MediaItem]:
    """The media items of the given files, folders and URIs, one at a time, in a deterministic
    order; ``skipped(path)`` hears of each non-media file passed over while walking.

    Each path is kept as the user spelled it (joined with names found below it); the same
    file reached twice is listed once, the first time (by its real path, or its URI). Memory
    does not grow with the number of files walked: what is remembered is the files named
    explicitly, the folders given, and the targets of links that lead out of those folders.

    Raises:
        StorageError: a URI's location cannot be listed (raised when the walk reaches it).
    """
    given = [os.fspath(p) for p in paths]
    local = [p for p in given if not storage.is_remote(p)]
    folders = [os.path.realpath(p) for p in local if os.path.isdir(p)]
    named = {os.path.realpath(p) for p in local if not os.path.isdir(p)}
    seen: set[str] = set()  # named files, link targets outside the folders, URIs of named objects
    walked: list[str] = []  # real paths of the folders walked so far
    skip = skipped or (lambda path: None)

    def first(key: str) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    def inside(real: str, roots: list[str]) -> bool:
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)

    def keep(file_path: str) -> bool:
        """Whether a file met in a walk is listed here (not already, not later by its own walk)."""
        if not os.path.islink(file_path):
            real = os.path.realpath(file_path)
            return first(real) if real in named else True
        real = os.path.realpath(file_path)
        if inside(real, folders) and os.path.isfile(real):  # its target is walked itself: listed there
            return False
        return first(real)

    for path in given:
        if storage.is_remote(path):
            for obj in storage.list_objects(path):
                kind = _kind_from_extension(obj.uri)
                if obj.uri == path:  # named explicitly: always a row
                    if first(obj.uri):
                        yield MediaItem(obj.uri, kind, None if obj.stamp else "no such object in the bucket", obj.stamp)
                elif kind == "unknown":
                    skip(obj.uri)
                elif obj.uri not in seen:
                    yield MediaItem(obj.uri, kind, None, obj.stamp)
        elif os.path.isdir(path):
            root = os.path.realpath(path)
            if inside(root, walked):
                continue  # inside a folder walked before: its files are listed already
            for file_path in _walk(path, prune=[w for w in walked if inside(w, [root])]):
                item = inspect_file(file_path)
                if item.problem is not None and _kind_from_extension(file_path) == "unknown":
                    skip(file_path)
                elif keep(file_path):
                    yield item
            walked.append(root)
        elif first(os.path.realpath(path)):
            yield inspect_file(path)


def discover(paths: Iterable[str | os.PathLike[str]]) -> Discovery:
    """Every media item of the given files, folders and URIs, in memory (:func:`walk_media`
    streams them instead).

    Raises:
        StorageError: a URI's location cannot be listed.
    """
    found = Discovery()
    found.items.extend(walk_media(paths, found.skipped.append))
    return found
