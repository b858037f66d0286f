"""A corpus of bad and odd input files for the scanner, each with the outcome we expect.

A hostile or careless user feeds ``forensics scan`` anything: tracking pixels, images whose
header claims ten billion pixels, truncated or bit-flipped JPEG and H.264, MP4 files cut
before or after their index, audio-only files, FIFOs, sockets, symlink loops, file names
that are not UTF-8. :func:`write_bad_inputs` writes one file (or link, or special file) per
kind into a folder and returns what the scan report should say about each, so a test can
scan the whole folder in one batch and check every row.

Everything is made here, from fixed seeds, with numpy, Pillow, PyAV (its bundled FFmpeg
encoders) and the project's sample pictures: no network, no system ``ffmpeg``. A kind whose
encoder is missing on this machine is skipped with a reason.

Run ``python tests/badinputs.py /tmp/corpus`` to write the corpus and print a table.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import sys
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable

import av
import numpy as np
from PIL import Image, features
from samples import astronaut, no_face_picture


@dataclass(frozen=True)
class BadInput:
    """One file of the corpus and the report row expected for it.

    Attributes:
        name: file name inside the folder (``os.fsdecode`` of the bytes for a non-UTF-8 name).
        status: expected report status: ``ok``, ``no_face``, ``error``, or ``ok|no_face``.
        warns: the row must carry a warning (damaged evidence: concealment, garbled data).
        note: what the file is and why it is here.
        reason: substrings of the expected error message (filled in by the test author).
    """

    name: str
    status: str
    warns: bool
    note: str
    reason: str | None = None


class _Skip(Exception):
    """A kind that cannot be made on this machine; the message says why."""


_Kind = Callable[[Path], list[BadInput]]
_KINDS: list[_Kind] = []


def _kind(fn: _Kind) -> _Kind:
    _KINDS.append(fn)
    return fn


def write_bad_inputs(folder: Path) -> tuple[list[BadInput], list[str]]:
    """Write every kind into ``folder`` (flat, except ``folder.mp4/``); return the kinds
    written and, as second element, human-readable reasons for kinds skipped on this machine."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[BadInput] = []
    skipped: list[str] = []
    for make in _KINDS:
        try:
            written += make(folder)
        except _Skip as exc:
            skipped.append(f"{make.__name__.removeprefix('_')}: {exc}")
    return written, skipped


# ---------------------------------------------------------------- helpers: pictures and bytes


@cache
def _face() -> np.ndarray:
    """The astronaut photo, 512x512 RGB; her face is about 105x120 px."""
    return astronaut()


def _face_crop(side: int) -> np.ndarray:
    """Head and shoulders (the 256 px square around the face) resized to ``side``; the face
    spans about 0.4 of the side."""
    crop = Image.fromarray(_face()[0:256, 100:356])
    return np.asarray(crop.resize((side, side), Image.Resampling.LANCZOS))


def _encode_image(image: Image.Image | np.ndarray, fmt: str, **params: object) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


@cache
def _portrait() -> np.ndarray:
    """The still used for the image kinds: a 320x320 crop of the photo, face unscaled (~105 px)."""
    return np.ascontiguousarray(_face()[0:320, 96:416])


@cache
def _face_jpeg() -> bytes:
    return _encode_image(_portrait(), "JPEG", quality=90)


@cache
def _face_png() -> bytes:
    return _encode_image(_portrait(), "PNG")


def _fresh(path: str | bytes | os.PathLike) -> None:
    """Remove what a previous run left at ``path`` (writing into an old FIFO would block)."""
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)


def _write(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    _fresh(path)
    path.write_bytes(data)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_ihdr(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


def _png_insert_after_ihdr(png: bytes, chunk: bytes) -> bytes:
    end = 8 + 25  # signature, then IHDR (4 length + 4 type + 13 data + 4 CRC)
    return png[:end] + chunk + png[end:]


def _sub_filter(row: np.ndarray) -> bytes:
    """A PNG scanline with filter 1 (Sub, 3 bytes per pixel): runs of equal pixels become zeros."""
    out = row.copy()
    out[3:] -= row[:-3]  # uint8 arithmetic wraps, as PNG wants
    return b"\x01" + out.tobytes()


def _write_big_png(path: Path, side: int, background: int, tile: np.ndarray, at: tuple[int, int],
                   zoom: int) -> None:
    """A ``side`` x ``side`` RGB PNG, flat ``background`` with ``tile`` pasted at ``at`` (x, y)
    and enlarged ``zoom`` times (nearest), streamed row by row so no full frame is ever held."""
    x0, y0 = at
    flat = np.full(side * 3, background, np.uint8)
    same_as_above = b"\x02" + bytes(side * 3)  # filter 2 (Up) of a repeated row: all zeros
    deflate = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    parts = []
    band = range(y0, y0 + tile.shape[0] * zoom)
    for y in range(side):
        if y in band:
            if (y - y0) % zoom:
                line = same_as_above
            else:
                row = flat.copy()
                pixels = np.repeat(tile[(y - y0) // zoom], zoom, axis=0).reshape(-1)
                row[x0 * 3 : x0 * 3 + pixels.size] = pixels
                line = _sub_filter(row)
        else:
            line = _sub_filter(flat) if y == 0 or y == band.stop else same_as_above
        parts.append(deflate.compress(line))
    parts.append(deflate.flush())
    _fresh(path)
    with open(path, "wb") as f:
        f.write(_png_ihdr(side, side))
        f.write(_png_chunk(b"IDAT", b"".join(parts)))
        f.write(_png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- helpers: video


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # UnknownCodecError, or a PyAV without that codec
        return False
    return True


def _need_encoder(name: str) -> None:
    if not _has_encoder(name):
        raise _Skip(f"PyAV's FFmpeg has no {name} encoder")


def _clip(size: tuple[int, int] = (320, 240), count: int = 15, side: int = 220, grey: int = 96) -> list[np.ndarray]:
    """Frames of the astronaut's head (``side`` px square, face ~0.4 of it) sliding left to
    right across a flat grey frame, like :func:`samples.write_clip`."""
    width, height = size
    tile = _face_crop(side)
    travel = max(0, width - side)
    top = (height - side) // 2
    frames = []
    for k in range(count):
        frame = np.full((height, width, 3), grey, np.uint8)
        left = round(travel * k / max(1, count - 1))
        frame[top : top + side, left : left + side] = tile
        frames.append(frame)
    return frames


def encode_video(path: Path, frames: list[np.ndarray], codec: str = "libx264", fps: int = 15,
                 container_options: dict[str, str] | None = None,
                 codec_options: dict[str, str] | None = None, bit_rate: int | None = None,
                 pts: list[int] | None = None, pix_fmt: str = "yuv420p", codec_tag: str | None = None) -> None:
    """Encode RGB ``frames`` with PyAV; ``pts`` (in frames) overrides the packets' timestamps.

    The tests' one video encoder (the corpus, the codec tests, the tracking clips)."""
    _need_encoder(codec)
    _fresh(path)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec_tag:
            stream.codec_tag = codec_tag
        stream.thread_count = 1  # x264 cuts a frame into one slice per thread: keep files the same on every machine
        if codec_options:
            stream.options = codec_options
        if bit_rate:
            stream.bit_rate = bit_rate
        packets = []
        for frame in frames:
            packets += stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24"))
        packets += stream.encode(None)
        for k, packet in enumerate(packets):
            if pts is not None:
                packet.pts = pts[k]
            out.mux(packet)


_X264 = {"preset": "ultrafast"}


@cache
def _good_mp4() -> bytes:
    """The reference H.264 MP4 (moov at the end); several damaged kinds are cut from it."""
    _need_encoder("libx264")
    scratch = io.BytesIO()
    with av.open(scratch, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.thread_count = 1  # one slice per frame, whatever the machine
        stream.options = {"preset": "veryfast", "x264-params": "bframes=0"}
        for frame in _clip():
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return scratch.getvalue()


def _boxes(data: bytes | bytearray, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int, int]]:
    """ISO-BMFF boxes in ``data[start:end]``: (type, offset, header size, total size)."""
    end = len(data) if end is None else end
    found = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        elif size == 0:
            size = end - offset
        if size < header:
            break
        found.append((kind, offset, header, size))
        offset += size
    return found


def _box(data: bytes | bytearray, kind: bytes) -> tuple[int, int, int]:
    for found, offset, header, size in _boxes(data):
        if found == kind:
            return offset, header, size
    raise ValueError(f"no top-level {kind!r} box")


def _shift_chunk_offsets(data: bytearray, delta: int) -> None:
    """Add ``delta`` to every chunk offset (stco/co64) under moov, in place."""
    containers = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}

    def walk(start: int, end: int) -> None:
        for kind, offset, header, size in _boxes(data, start, end):
            body = offset + header
            if kind in containers:
                walk(body, offset + size)
            elif kind in (b"stco", b"co64"):
                count = struct.unpack(">I", data[body + 4 : body + 8])[0]
                width, fmt = (4, ">I") if kind == b"stco" else (8, ">Q")
                for k in range(count):
                    at = body + 8 + k * width
                    data[at : at + width] = struct.pack(fmt, struct.unpack(fmt, data[at : at + width])[0] + delta)

    offset, _, size = _box(data, b"moov")
    walk(offset, offset + size)


def _h264_slices(mp4: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each H.264 slice NAL unit in the mdat of an AVCC MP4, in order:
    one per frame here (x264 writes one slice per frame)."""
    offset, header, size = _box(mp4, b"mdat")
    at, end = offset + header, offset + size
    slices = []
    while at + 4 <= end:
        length = struct.unpack(">I", mp4[at : at + 4])[0]
        if mp4[at + 4] & 0x1F in (1, 5):  # non-IDR / IDR slice
            slices.append((at + 4, length))
        at += 4 + length
    return slices


def _flip_bits(data: bytearray, positions: list[int], rng: np.random.Generator) -> None:
    for at in positions:
        data[at] ^= 1 << int(rng.integers(0, 7))  # low 7 bits only: a byte below 0x80 never becomes 0xFF


# ---------------------------------------------------------------- images


@_kind
def _tiny_images(folder: Path) -> list[BadInput]:
    _write(folder, "tracking-pixel-1x1.png", _encode_image(np.full((1, 1, 3), 255, np.uint8), "PNG"))
    icon = np.asarray(Image.fromarray(no_face_picture()).resize((16, 16), Image.Resampling.LANCZOS))
    _write(folder, "icon-16x16.png", _encode_image(icon, "PNG"))
    return [
        BadInput("tracking-pixel-1x1.png", "no_face", False, "1x1 white PNG (web tracking pixel): smaller than any face"),
        BadInput("icon-16x16.png", "no_face", False, "16x16 PNG icon of a coffee cup"),
    ]


def _tiled(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    scale = height / picture.shape[0]
    tile = np.asarray(Image.fromarray(picture).resize((round(picture.shape[1] * scale), height), Image.Resampling.LANCZOS))
    reps = -(-width // tile.shape[1])
    return np.ascontiguousarray(np.concatenate([tile] * reps, axis=1)[:, :width])


@_kind
def _extreme_aspect(folder: Path) -> list[BadInput]:
    banner = _tiled(no_face_picture(), 300, 10000)
    _write(folder, "banner-10000x300.jpg", _encode_image(banner, "JPEG", quality=70))
    strip = np.ascontiguousarray(_tiled(np.rot90(no_face_picture()), 300, 10000).transpose(1, 0, 2)[:, ::-1])
    _write(folder, "strip-300x10000.jpg", _encode_image(strip, "JPEG", quality=70))
    face = np.asarray(Image.fromarray(_face()[40:190, 150:300]).resize((300, 300), Image.Resampling.LANCZOS))
    banner_face = banner.copy()
    banner_face[:, 4850:5150] = face
    _write(folder, "banner-face-10000x300.jpg", _encode_image(banner_face, "JPEG", quality=75))
    return [
        BadInput("banner-10000x300.jpg", "no_face", False, "10000x300 banner of coffee cups: extreme aspect ratio, no face"),
        BadInput("strip-300x10000.jpg", "no_face", False, "300x10000 tall strip of coffee cups: extreme aspect ratio, no face"),
        BadInput("banner-face-10000x300.jpg", "ok|no_face", False,
                 "10000x300 banner with the face (~220 px) pasted mid-way: a resize to the detector's input shrinks it to a few px"),
    ]


@_kind
def _odd_modes(folder: Path) -> list[BadInput]:
    rgb = Image.fromarray(_portrait())
    size = rgb.width
    grey = np.asarray(rgb.convert("L")).astype(np.uint16) * 257  # the full 16-bit range
    _write(folder, "face-16bit-grey.png", _encode_image(Image.fromarray(grey), "PNG"))
    # Pillow cannot write 16-bit RGB PNG, so write the PNG by hand: 16-bit big-endian samples
    wide = _portrait().astype(np.uint16) * 257
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in wide)
    png48 = _png_ihdr(size, size, depth=16, colour=2) + _png_chunk(b"IDAT", zlib.compress(raw, 6)) + _png_chunk(b"IEND", b"")
    _write(folder, "face-16bit-rgb.png", png48)
    _write(folder, "face-cmyk.jpg", _encode_image(rgb.convert("CMYK"), "JPEG", quality=90))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    _write(folder, "face-palette.png", _encode_image(palette, "PNG"))
    yy, xx = np.mgrid[0:size, 0:size]
    alpha = np.clip(255 - 1.2 * (np.hypot(xx - 134, yy - 120) - 85), 40, 255).astype(np.uint8)  # opaque face, fading edges
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(alpha))
    _write(folder, "face-rgba.png", _encode_image(rgba, "PNG"))
    la = rgb.convert("L")
    la.putalpha(Image.fromarray(alpha))
    _write(folder, "face-la.png", _encode_image(la, "PNG"))
    _write(folder, "face-1bit.png", _encode_image(rgb.convert("1"), "PNG"))
    floats = np.asarray(rgb.convert("L"), np.float32) / 255.0
    _write(folder, "face-float32.tif", _encode_image(Image.fromarray(floats, "F"), "TIFF", compression="tiff_adobe_deflate"))
    return [
        BadInput("face-16bit-grey.png", "ok", False, "16-bit greyscale PNG (mode I;16, full range): naive conversion to RGB clips it to white"),
        BadInput("face-16bit-rgb.png", "ok", False, "48-bit RGB PNG (16 bits per channel), hand-written"),
        BadInput("face-cmyk.jpg", "ok", False, "CMYK JPEG (print workflow): needs a colour conversion to RGB"),
        BadInput("face-palette.png", "ok", False, "palette PNG (mode P, 256 colours)"),
        BadInput("face-rgba.png", "ok", False, "RGBA PNG, opaque face, partly transparent edges"),
        BadInput("face-la.png", "ok", False, "greyscale + alpha PNG (mode LA)"),
        BadInput("face-1bit.png", "ok|no_face", False, "1-bit dithered PNG (mode 1): a face only to the eye, detectors may miss it"),
        BadInput("face-float32.tif", "ok|no_face", False, "float32 TIFF (mode F, values 0..1): naive conversion gives a black picture"),
    ]


@_kind
def _huge_png(folder: Path) -> list[BadInput]:
    _write_big_png(folder / "huge-12000x12000.png", 12000, 150, _face_crop(256), at=(5000, 4000), zoom=8)
    return [BadInput("huge-12000x12000.png", "ok|no_face", False,
                     "12000x12000 flat PNG (144 Mpx: ~430 MB decoded, past Pillow's bomb warning) with a ~840 px face")]


@_kind
def _decompression_bomb(folder: Path) -> list[BadInput]:
    data = _png_ihdr(100_000, 100_000) + _png_chunk(b"IDAT", zlib.compress(bytes(1000))) + _png_chunk(b"IEND", b"")
    _write(folder, "bomb-100000x100000.png", data)
    return [BadInput("bomb-100000x100000.png", "error", False,
                     "PNG whose header claims 100000x100000 px (30 GB decoded): decompression bomb, must be refused", reason="too large")]


@_kind
def _broken_jpegs(folder: Path) -> list[BadInput]:
    good = _face_jpeg()
    _write(folder, "truncated-tail.jpg", good[: len(good) // 2])
    _write(folder, "truncated-head.jpg", good[len(good) // 5 :])
    flipped = bytearray(good)
    sos = good.index(b"\xff\xda")
    scan = sos + 2 + struct.unpack(">H", good[sos + 2 : sos + 4])[0]
    eoi = good.rindex(b"\xff\xd9")
    # only bytes below 0x80 that do not follow 0xFF: no marker is made or broken
    candidates = [i for i in range(scan + (eoi - scan) // 3, eoi - 16) if good[i] < 0x80 and good[i - 1] != 0xFF]
    rng = np.random.default_rng(7)
    _flip_bits(flipped, sorted(rng.choice(candidates, 20, replace=False).tolist()), rng)
    _write(folder, "bitflip.jpg", bytes(flipped))
    return [
        BadInput("truncated-tail.jpg", "error", False, "JPEG cut in half (download interrupted): must fail, not decode with a grey bottom", reason="truncated"),
        BadInput("truncated-head.jpg", "error", False, "last 80% of a JPEG: no SOI marker, no headers", reason="not a recognised image or video"),
        BadInput("bitflip.jpg", "ok|no_face", True,
                 "JPEG with 20 bits flipped in the entropy-coded data: decodes, lower part garbled"),
    ]


@_kind
def _not_images(folder: Path) -> list[BadInput]:
    _write(folder, "empty.jpg", b"")
    _write(folder, "text.jpg", b"This is not a picture, it is a text file with a .jpg name.\n" * 3)
    _write(folder, "random.png", np.random.default_rng(11).integers(0, 256, 4096, np.uint8).tobytes())
    return [
        BadInput("empty.jpg", "error", False, "zero-byte .jpg", reason="empty file"),
        BadInput("text.jpg", "error", False, "plain text named .jpg", reason="not a recognised image or video"),
        BadInput("random.png", "error", False, "4 KiB of random bytes named .png", reason="not a recognised image or video"),
    ]


@_kind
def _misnamed_and_formats(folder: Path) -> list[BadInput]:
    _write(folder, "jpeg-named.png", _face_jpeg())
    _write(folder, "png-named.jpeg", _face_png())
    _write(folder, "png-named.mp4", _face_png())
    upright = Image.fromarray(_portrait())
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    tall = Image.fromarray(_face()[0:400, 96:416])  # 320 wide, 400 high once upright
    stored = tall.transpose(Image.Transpose.ROTATE_90)  # pixels stored 400 wide, rotated counter-clockwise
    _write(folder, "exif-rotated.jpg", _encode_image(stored, "JPEG", quality=90, exif=exif.tobytes()))
    _write(folder, "face.bmp", _encode_image(upright, "BMP"))
    _write(folder, "face.tif", _encode_image(upright, "TIFF", compression="tiff_adobe_deflate"))
    return [
        BadInput("jpeg-named.png", "ok", False, "JPEG content named .png: the content decides"),
        BadInput("png-named.jpeg", "ok", False, "PNG content named .jpeg"),
        BadInput("png-named.mp4", "ok", False, "PNG content named .mp4: an image, not a video"),
        BadInput("exif-rotated.jpg", "ok", False, "JPEG stored on its side (400x320) with EXIF orientation 6: upright (320x400) only once transposed"),
        BadInput("face.bmp", "ok", False, "BMP of the face"),
        BadInput("face.tif", "ok", False, "Deflate-compressed TIFF of the face"),
    ]


@_kind
def _webp(folder: Path) -> list[BadInput]:
    if not features.check("webp"):
        raise _Skip("Pillow was built without WebP")
    _write(folder, "face.webp", _encode_image(_portrait(), "WEBP", quality=85))
    return [BadInput("face.webp", "ok", False, "lossy WebP of the face")]


@_kind
def _huge_headers(folder: Path) -> list[BadInput]:
    good = _face_jpeg()
    filler = bytes(65533)  # the most a segment can carry: its length field (65535) counts itself
    segments = b"".join(b"\xff" + bytes([0xE0 + k % 16 if k % 4 else 0xFE]) + b"\xff\xff" + filler for k in range(1, 33))
    _write(folder, "huge-header.jpg", good[:2] + segments + good[2:])  # after SOI, before the image's own APP0
    text = _png_chunk(b"tEXt", b"Comment\x00" + b"lorem ipsum " * 175_000)
    _write(folder, "huge-text-chunk.png", _png_insert_after_ihdr(_face_png(), text))
    ztxt = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"lorem ipsum " * 175_000, 9))
    _write(folder, "huge-ztxt-chunk.png", _png_insert_after_ihdr(_face_png(), ztxt))
    return [
        BadInput("huge-header.jpg", "ok", False, "JPEG with 2 MB of APPn/COM segments (32 x 65533 bytes) before the image"),
        BadInput("huge-text-chunk.png", "ok", False, "PNG with a 2 MB tEXt chunk before the image data"),
        BadInput("huge-ztxt-chunk.png", "ok", False,
                 "PNG with a zTXt chunk inflating to 2 MB (over Pillow's 1 MB MAX_TEXT_CHUNK) before the image data"),
    ]


# ---------------------------------------------------------------- videos


@_kind
def _good_h264_mp4(folder: Path) -> list[BadInput]:
    _write(folder, "good-h264.mp4", _good_mp4())
    return [BadInput("good-h264.mp4", "ok", False, "reference: 15-frame 320x240 H.264 MP4, face ~90 px sliding across")]


@_kind
def _good_hevc(folder: Path) -> list[BadInput]:
    _need_encoder("libx265")
    encode_video(folder / "good-hevc.mp4", _clip(), "libx265",
                  codec_options={"preset": "ultrafast", "x265-params": "log-level=error"})
    return [BadInput("good-hevc.mp4", "ok", False, "same clip as HEVC (H.265) in MP4")]


@_kind
def _good_vp9(folder: Path) -> list[BadInput]:
    _need_encoder("libvpx-vp9")
    encode_video(folder / "good-vp9.webm", _clip(), "libvpx-vp9", codec_options={"deadline": "realtime", "cpu-used": "8"})
    return [BadInput("good-vp9.webm", "ok", False, "same clip as VP9 in WebM")]


@_kind
def _good_containers(folder: Path) -> list[BadInput]:
    _need_encoder("libx264")
    _need_encoder("mpeg4")
    encode_video(folder / "good-h264.mkv", _clip(), codec_options=_X264)
    encode_video(folder / "good-h264.mov", _clip(), codec_options=_X264)
    encode_video(folder / "good-mpeg4.avi", _clip(), "mpeg4", bit_rate=1_500_000)
    return [
        BadInput("good-h264.mkv", "ok", False, "same clip as H.264 in Matroska"),
        BadInput("good-h264.mov", "ok", False, "same clip as H.264 in QuickTime MOV"),
        BadInput("good-mpeg4.avi", "ok", False, "same clip as MPEG-4 Part 2 in AVI"),
    ]


@_kind
def _damaged_mp4(folder: Path) -> list[BadInput]:
    good = _good_mp4()
    # bit flips inside three P-frame slices (past their slice headers): frames 0-5 stay clean
    flipped = bytearray(good)
    rng = np.random.default_rng(5)
    slices = _h264_slices(good)
    for frame in (6, 9, 12):
        start, length = slices[frame]
        inside = [i for i in range(start + 8, start + length) if good[i] < 0x80]
        _flip_bits(flipped, sorted(rng.choice(inside, 4, replace=False).tolist()), rng)
    _write(folder, "bitflip-h264.mp4", bytes(flipped))
    _write(folder, "truncated-moov-at-end.mp4", good[: len(good) // 3])
    _write(folder, "head-cut.mp4", good[len(good) // 5 :])
    ftyp_offset, _, ftyp_size = _box(good, b"ftyp")
    _write(folder, "ftyp-only.mp4", good[ftyp_offset : ftyp_offset + ftyp_size])
    return [
        BadInput("bitflip-h264.mp4", "ok|no_face", True,
                 "H.264 MP4 with 12 bits flipped in the slices of frames 6, 9, 12: opens, decodes, frames 6-14 garbled"),
        BadInput("truncated-moov-at-end.mp4", "error", False, "first third of an MP4 whose moov index is at the end: cannot be opened", reason="cut short or corrupt"),
        BadInput("head-cut.mp4", "error", False, "MP4 with its first 20% cut off: no ftyp, starts inside mdat", reason="not a recognised image or video"),
        BadInput("ftyp-only.mp4", "error", False, "an MP4 that is only its 32-byte ftyp box", reason="cut short or corrupt"),
    ]


def write_videos_that_break_partway(folder: Path) -> list[BadInput]:
    """Two videos whose index promises 20 frames and whose data stops after about 12."""
    return _faststart_truncated(folder)


@_kind
def _faststart_truncated(folder: Path) -> list[BadInput]:
    path = folder / "faststart-truncated.mp4"
    encode_video(path, _clip(count=20), container_options={"movflags": "faststart"},
                  codec_options={"preset": "veryfast", "x264-params": "bframes=0:keyint=4"})
    data = path.read_bytes()
    if _box(data, b"moov")[0] > _box(data, b"mdat")[0]:
        raise _Skip("the mp4 muxer did not move moov to the front")
    with av.open(str(path)) as video:
        ends = [packet.pos + packet.size for packet in video.demux(video=0) if packet.size]
    cut = len(data) * 3 // 5
    whole = [end for end in ends if end <= cut]  # the last frame that is complete before the cut
    path.write_bytes(data[:cut])
    _write(folder, "faststart-cut-between-frames.mp4", data[: whole[-1]])
    return [
        BadInput("faststart-truncated.mp4", "ok|no_face", True,
                 f"faststart MP4 (moov first) cut at 60%, inside frame {len(whole)}: index lists 20 frames, {len(whole)} are whole"),
        BadInput("faststart-cut-between-frames.mp4", "ok|no_face", True,
                 f"the same faststart MP4 cut right after frame {len(whole) - 1}: index lists 20 frames, {len(whole)} are there"),
    ]


@_kind
def _not_videos(folder: Path) -> list[BadInput]:
    _write(folder, "empty.mp4", b"")
    _write(folder, "random.mp4", np.random.default_rng(13).integers(0, 256, 8192, np.uint8).tobytes())
    return [
        BadInput("empty.mp4", "error", False, "zero-byte .mp4", reason="empty file"),
        BadInput("random.mp4", "error", False, "8 KiB of random bytes named .mp4", reason="not a recognised image or video"),
    ]


@_kind
def _audio_only(folder: Path) -> list[BadInput]:
    _need_encoder("aac")
    path = folder / "audio-only.mp4"
    _fresh(path)
    rate, size = 44100, 1024
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(43 * size) / rate)).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, tone.size, size):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + size].copy(), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return [BadInput("audio-only.mp4", "error", False, "MP4 with one AAC stream (1 s, 440 Hz) and no video stream", reason="no video stream")]


@_kind
def _zero_frames(folder: Path) -> list[BadInput]:
    # FFmpeg's mp4 muxer drops a track without samples from a plain moov; an empty_moov
    # (fragmented) file keeps it: a 320x240 H.264 track, and no fragment after it
    _need_encoder("libx264")
    for name, flags in (("zero-frames.mp4", "frag_keyframe+empty_moov"), ("no-tracks.mp4", None)):
        path = folder / name
        _fresh(path)
        with av.open(str(path), "w", options={"movflags": flags} if flags else {}) as out:
            stream = out.add_stream("libx264", rate=15)
            stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
            out.start_encoding()  # writes the header; no packet follows
    return [
        BadInput("zero-frames.mp4", "error", False, "fragmented MP4 whose moov declares a 320x240 H.264 track, with zero frames", reason="no frames"),
        BadInput("no-tracks.mp4", "error", False, "MP4 with ftyp, an empty mdat and a moov without any track", reason="no video stream"),
    ]


@_kind
def _av1(folder: Path) -> list[BadInput]:
    encoder = next((name for name in ("libaom-av1", "libsvtav1", "librav1e") if _has_encoder(name)), None)
    if encoder is None:
        raise _Skip("PyAV's FFmpeg has no AV1 encoder (libaom-av1, libsvtav1, librav1e)")
    options = {"libaom-av1": {"cpu-used": "8", "usage": "realtime"}, "libsvtav1": {"preset": "12"},
               "librav1e": {"speed": "10"}}[encoder]
    previous = os.environ.get("SVT_LOG")
    os.environ["SVT_LOG"] = "1"  # SVT-AV1 prints its banner to stderr unless told otherwise
    try:
        encode_video(folder / "av1.mp4", _clip(), encoder, codec_options=options)
    finally:
        if previous is None:
            os.environ.pop("SVT_LOG", None)
        else:
            os.environ["SVT_LOG"] = previous
    # decord 0.6.0's bundled FFmpeg has no AV1 decoder: it cannot open this file
    return [BadInput("av1.mp4", "ok", False, f"same clip as AV1 ({encoder}) in MP4: decord 0.6 cannot decode it, the PyAV fallback can")]


@_kind
def _small_videos(folder: Path) -> list[BadInput]:
    icon = np.asarray(Image.fromarray(no_face_picture()).resize((16, 16), Image.Resampling.LANCZOS))
    encode_video(folder / "tiny-16x16.mp4", [np.roll(icon, k, axis=1) for k in range(10)], codec_options=_X264)
    encode_video(folder / "one-frame.mp4", _clip(count=1), codec_options=_X264)
    return [
        BadInput("tiny-16x16.mp4", "no_face", False, "valid 10-frame 16x16 H.264 video of a coffee cup"),
        BadInput("one-frame.mp4", "ok|no_face", False, "H.264 MP4 of a single frame with the face"),
    ]


@_kind
def _huge_box(folder: Path) -> list[BadInput]:
    good = bytearray(_good_mp4())
    free = struct.pack(">I4s", 3_000_000, b"free") + bytes(3_000_000 - 8)
    _shift_chunk_offsets(good, len(free))  # mdat moves down by the size of the new box
    _, _, ftyp_size = _box(good, b"ftyp")
    _write(folder, "huge-free-box.mp4", bytes(good[:ftyp_size]) + free + bytes(good[ftyp_size:]))
    return [BadInput("huge-free-box.mp4", "ok", False,
                     "H.264 MP4 with a 3 MB 'free' box between ftyp and mdat/moov (chunk offsets patched)")]


@_kind
def _huge_videos(folder: Path) -> list[BadInput]:
    encode_video(folder / "4k-3frames.mp4", _clip((3840, 2160), count=3, side=1200), codec_options=_X264)
    encode_video(folder / "8k-2frames.mp4", _clip((7680, 4320), count=2, side=2000), codec_options=_X264)
    return [
        BadInput("4k-3frames.mp4", "ok|no_face", False, "3-frame 3840x2160 H.264 clip, flat grey, face ~490 px (25 MB per RGB frame)"),
        BadInput("8k-2frames.mp4", "ok|no_face", False, "2-frame 7680x4320 H.264 clip, flat grey, face ~820 px (100 MB per RGB frame)"),
    ]


@_kind
def _odd_timestamps(folder: Path) -> list[BadInput]:
    # frames keep decode order; presentation times go 0,1,5,3,8,8,8,8,8,9...: back in time and repeated
    pts = list(range(15))
    pts[2] = 5
    pts[4:8] = [8] * 4
    encode_video(folder / "odd-timestamps.mp4", _clip(), codec_options={"preset": "ultrafast", "x264-params": "bframes=0"}, pts=pts)
    return [BadInput("odd-timestamps.mp4", "ok", False,
                     "H.264 MP4 whose presentation times go backwards (5 then 3) and repeat (five frames at 8)")]


# ---------------------------------------------------------------- special files and odd names


@_kind
def _fifo(folder: Path) -> list[BadInput]:
    if not hasattr(os, "mkfifo"):
        raise _Skip("no os.mkfifo on this platform")
    path = folder / "fifo.mp4"
    _fresh(path)
    os.mkfifo(path)
    return [BadInput("fifo.mp4", "error", False, "a named pipe (FIFO) called .mp4: opening it for reading blocks until a writer comes", reason="named pipe")]


@_kind
def _unix_socket(folder: Path) -> list[BadInput]:
    if not hasattr(socket, "AF_UNIX"):
        raise _Skip("no UNIX sockets on this platform")
    path = folder / "socket.jpg"
    _fresh(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.fsencode(path.absolute())) < 100:
            sock.bind(os.fsencode(path.absolute()))
        else:  # sun_path holds 108 bytes: bind through the folder's descriptor instead
            fd = os.open(folder, os.O_RDONLY)
            try:
                sock.bind(f"/proc/self/fd/{fd}/{path.name}")
            except OSError as exc:
                raise _Skip(f"folder path too long for a UNIX socket ({exc})") from None
            finally:
                os.close(fd)
    finally:
        sock.close()  # the socket file stays
    return [BadInput("socket.jpg", "error", False, "a UNIX domain socket file called .jpg: open() fails with ENXIO", reason="socket")]


@_kind
def _bad_links(folder: Path) -> list[BadInput]:
    for name, target in (("loop-a.jpg", "loop-b.jpg"), ("loop-b.jpg", "loop-a.jpg"), ("dangling.jpg", "no-such-file.jpg")):
        _fresh(folder / name)
        os.symlink(target, folder / name)
    return [
        BadInput("loop-a.jpg", "error", False, "symlink loop: loop-a.jpg -> loop-b.jpg -> loop-a.jpg (ELOOP)", reason="loop of symbolic links"),
        BadInput("loop-b.jpg", "error", False, "symlink loop, the other end", reason="loop of symbolic links"),
        BadInput("dangling.jpg", "error", False, "symlink to a file that does not exist", reason="no such file"),
    ]


@_kind
def _non_utf8_name(folder: Path) -> list[BadInput]:
    raw = b"caf\xe9-face.jpg"  # Latin-1 e-acute: not valid UTF-8
    path = os.path.join(os.fsencode(folder), raw)
    try:
        _fresh(path)
        with open(path, "wb") as f:
            f.write(_face_jpeg())
    except OSError as exc:  # e.g. a file system that insists on UTF-8 names
        raise _Skip(f"cannot create a non-UTF-8 file name here: {exc}") from None
    return [BadInput(os.fsdecode(raw), "ok", False, "good JPEG whose file name is not UTF-8 (Latin-1 byte 0xE9)")]


@_kind
def _odd_names(folder: Path) -> list[BadInput]:
    names = {
        "name with spaces.jpg": "good JPEG, spaces in the name",
        "new\nline.jpg": "good JPEG, a newline in the name (breaks line-based CSV/log parsing)",
        "emoji-\U0001f600.jpg": "good JPEG, an emoji (4-byte UTF-8) in the name",
        "-leading-dash.jpg": "good JPEG whose name starts with '-' (looks like an option)",
        "long-" + "x" * 231 + ".jpg": "good JPEG with a 240-byte name (file systems allow 255)",
        ".hidden.jpg": "good JPEG, hidden dot-file",
    }
    for name in names:
        _write(folder, name, _face_jpeg())
    return [BadInput(name, "ok", False, note) for name, note in names.items()]


@_kind
def _folder_named_like_video(folder: Path) -> list[BadInput]:
    inner = folder / "folder.mp4"
    if os.path.lexists(inner) and not inner.is_dir():
        os.unlink(inner)
    inner.mkdir(exist_ok=True)
    _write(inner, "inside.jpg", _face_jpeg())
    return [BadInput("folder.mp4/inside.jpg", "ok", False, "good JPEG inside a folder named folder.mp4 (the folder is not a video)")]


# ----------------------------------------------------------------


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} FOLDER", file=sys.stderr)
        return 2
    kinds, skipped = write_bad_inputs(Path(argv[1]))
    names = [ascii(k.name)[1:-1] for k in kinds]  # escapes the newline, emoji and non-UTF-8 byte
    names = [name if len(name) <= 40 else f"{name[:30]}...{name[-7:]}" for name in names]
    rows = [(name, k.status, "warn" if k.warns else "", k.note) for name, k in zip(names, kinds)]
    widths = [max(len(row[c]) for row in rows) for c in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)), row[3])
    print(f"\n{len(kinds)} files written to {argv[1]}")
    for reason in skipped:
        print(f"skipped {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
