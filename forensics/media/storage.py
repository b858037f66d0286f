"""Media and reports on object storage: ``s3://``, ``gs://`` and any other fsspec URI.

A path with a scheme (``s3://bucket/prefix``) is a location in a bucket; any other path is a
local file, as before. This module is the only one that talks to object storage, through
fsspec (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``): listing a prefix into media items,
downloading one object to a local temporary file (hashing it on the way) so that the decoders
read a file, and uploading what a scan writes (reports, thumbnails).

Credentials come from the storage library's standard chain (for S3: the environment, the
shared profile, the instance or pod role; ``AWS_ENDPOINT_URL`` points it at MinIO, Ceph or
another S3-compatible server). They never appear in a message: errors are reduced to what a
person needs (:func:`describe_error`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")
# options per protocol: no listing cache (a million keys must not stay in memory), and an
# unreachable endpoint fails in seconds rather than after minutes of retries. The filesystem
# itself is cached by fsspec (one client per process: making one costs ~0.2 s)
_OPTIONS: dict[str, dict[str, Any]] = {
    "s3": {"use_listings_cache": False,
           "config_kwargs": {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3}}},
    "gs": {"use_listings_cache": False},
}
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
# what may carry a secret in a library's message: signed-URL parameters, keys in a URL
_SECRETS = re.compile(r"((?:X-Amz-[A-Za-z-]+|AWSAccessKeyId|Signature|sig|token|access_key|secret)[=:]\s*)[^&\s'\"]+",
                      re.IGNORECASE)
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")
CHUNK_BYTES = 8 << 20  # read size of a download: few requests, bounded memory


def hashed_copy(source: BinaryIO, out: BinaryIO | None = None, chunk: int = CHUNK_BYTES) -> tuple[str, int]:
    """Read ``source`` to its end in ``chunk``-byte blocks (default 8 MiB), writing each to ``out``
    when given: the bytes' sha256 (hex) and their count."""
    digest, size = hashlib.sha256(), 0
    while block := source.read(chunk):
        digest.update(block)
        size += len(block)
        if out is not None:
            out.write(block)
    return digest.hexdigest(), size


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 (hex) of a local file's content, read in blocks (bounded memory)."""
    with open(path, "rb") as f:
        return hashed_copy(f)[0]


class StorageError(ValueError):
    """Object storage cannot be used as asked (unknown scheme, library missing, bucket unreachable
    or missing, access denied): one clear message, nothing scanned."""


def is_remote(path: str | os.PathLike[str]) -> bool:
    """True for a URI with a scheme other than ``file://`` (``s3://b/k``, ``gs://b/k``)."""
    match = _SCHEME.match(os.fspath(path)) if isinstance(path, str) else None
    return bool(match) and match.group("scheme").lower() != "file"


def redact(text: str) -> str:
    """``text`` without anything that looks like a credential (signed-URL parameters, URL user info)."""
    return _USERINFO.sub(r"\1", _SECRETS.sub(r"\1<redacted>", text))


def describe_error(exc: BaseException) -> str:
    """A library's storage error as a short, credential-free reason a person understands."""
    if isinstance(exc, FileNotFoundError):
        return "no such object (or bucket)"
    if isinstance(exc, PermissionError):
        return "access denied: the credentials in use may not read it"
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    name = type(exc).__name__
    if "Could not connect" in text or "Connect timeout" in text or name in ("EndpointConnectionError",
                                                                            "ConnectTimeoutError"):
        return f"cannot reach the storage endpoint ({redact(text) or name})"
    return redact(f"{name}: {text}" if text else name)


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``uri`` and the path inside it (``bucket/key``).

    Raises:
        StorageError: the scheme is unknown, or its library is not installed.
    """
    import fsspec

    scheme = _SCHEME.match(uri).group("scheme").lower()
    try:
        return fsspec.core.url_to_fs(uri, **_OPTIONS.get(scheme, {}))
    except ImportError:
        package = _PACKAGES.get(scheme, f"the fsspec implementation of {scheme}://")
        raise StorageError(f"{scheme}:// needs {package}: pip install {package}") from None
    except ValueError as exc:
        raise StorageError(f"{redact(uri)}: {exc}") from None


def join(uri: str, *names: str) -> str:
    """``uri`` with names appended, ``/``-separated."""
    return posixpath.join(uri.rstrip("/"), *names)


def to_uri(fs: Any, path: str) -> str:
    """The full URI of a path inside ``fs`` (``bucket/key`` -> ``s3://bucket/key``)."""
    return fs.unstrip_protocol(path)


@dataclass(frozen=True)
class StoredObject:
    """An object found by a listing: its URI and the stamp that says whether it changed."""

    uri: str
    stamp: str  # size and ETag (or generation, or mtime): equal stamps, same content


def _stamp(info: dict[str, Any]) -> str:
    tag = info.get("ETag") or info.get("etag") or info.get("generation") or info.get("md5Hash") \
        or info.get("LastModified") or info.get("mtime") or info.get("updated") or ""
    return f"{info.get('size')}:{str(tag).strip(chr(34))}"


def list_objects(uri: str) -> Iterator[StoredObject]:
    """The objects at ``uri``: the object itself, or every object under it as a prefix, walked
    one "folder" at a time, each sorted by name. An object that does not exist yields itself
    with stamp ``""`` (its row will say so).

    Raises:
        StorageError: the bucket is missing, unreachable or denied (nothing can be listed).
    """
    fs, path = filesystem(uri)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        bucket = path.split("/", 1)[0]
        try:
            bucket_exists = fs.exists(bucket)
        except Exception as exc:
            raise StorageError(f"cannot list {redact(uri)}: {describe_error(exc)}") from None
        if not bucket_exists:
            raise StorageError(f"cannot list {redact(uri)}: the bucket {bucket} does not exist "
                               "(or these credentials may not see it)")
        yield StoredObject(uri, "")
        return
    except Exception as exc:
        raise StorageError(f"cannot list {redact(uri)}: {describe_error(exc)}") from None
    if info.get("type") != "directory":
        yield StoredObject(uri, _stamp(info))
        return
    try:
        for _, _, files in fs.walk(path, detail=True):
            for name in sorted(files):
                yield StoredObject(to_uri(fs, files[name]["name"]), _stamp(files[name]))
    except Exception as exc:
        raise StorageError(f"cannot list {redact(uri)}: {describe_error(exc)}") from None


def local_stamp(path: str) -> str:
    """Size and modification time of a local file, in nanoseconds ("" when it cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


@contextlib.contextmanager
def downloaded(uri: str, folder: str | None = None) -> Iterator[tuple[str, str, int]]:
    """Download the object at ``uri`` into a temporary file; yields ``(local path, sha256 hex,
    size in bytes)`` and deletes the file on exit.

    Raises:
        OSError: the object cannot be read; the message is :func:`describe_error`'s.
    """
    fs, path = filesystem(uri)
    handle, local = tempfile.mkstemp(prefix="forensics-", suffix=posixpath.splitext(path)[1][:16], dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with fs.open(path, "rb", block_size=CHUNK_BYTES) as f:
                    digest, size = hashed_copy(f, out)
            except Exception as exc:
                raise OSError(describe_error(exc)) from None
        yield local, digest, size
    finally:
        with contextlib.suppress(OSError):
            os.unlink(local)


def upload(local: str, uri: str) -> None:
    """Copy a local file to ``uri`` (replacing it).

    Raises:
        OSError: it cannot be written; the message is :func:`describe_error`'s.
    """
    fs, path = filesystem(uri)
    try:
        fs.put_file(local, path)
    except Exception as exc:
        raise OSError(f"cannot write {redact(uri)}: {describe_error(exc)}") from None


@contextlib.contextmanager
def staged_folder(target: str) -> Iterator[tuple[str, Any]]:
    """A local folder to write into for ``target``; yields ``(folder, published)`` where
    ``published(local path)`` is the path the file will have once published.

    A local ``target`` is its own folder. For a URI, files go to a temporary folder and are
    uploaded below ``target`` when the block ends without error (then deleted).

    Raises:
        OSError: on exit, an upload failed.
    """
    if not is_remote(target):
        yield target, lambda p: p
        return
    folder = tempfile.mkdtemp(prefix="forensics-out-")
    try:
        def published(p: str) -> str:
            return join(target, os.path.relpath(p, folder))

        yield folder, published
        for name in sorted(os.listdir(folder)):
            local = os.path.join(folder, name)
            if os.path.isfile(local) and not name.startswith("."):
                upload(local, published(local))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_writable(uri: str) -> None:
    """Write and delete a small object beside ``uri`` so that a scan does not fail after the work.

    Raises:
        StorageError: the location cannot be written.
    """
    fs, path = filesystem(uri)
    probe = f"{path.rstrip('/')}.forensics-write-check"
    try:
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as exc:
        raise StorageError(f"cannot write {redact(uri)}: {describe_error(exc)}") from None


def exists(uri: str) -> bool:
    """True when an object is at ``uri``.

    Raises:
        StorageError: the location cannot be reached or read.
    """
    fs, path = filesystem(uri)
    try:
        return bool(fs.exists(path))
    except Exception as exc:
        raise StorageError(f"cannot read {redact(uri)}: {describe_error(exc)}") from None
