"""Decode still images with Pillow: any mode as 8-bit RGB, EXIF orientation applied, huge
pictures reduced while decoding (:func:`read_image`)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from forensics.media.decode import DecodeError, Frame, first_line

# A truncated JPEG must fail, not decode silently with a grey bottom half.
Image.LOAD_TRUNCATED_IMAGES = False
# Text metadata of a few MB is legal in a PNG; Pillow refuses compressed chunks above 1 MB
PngImagePlugin.MAX_TEXT_CHUNK = 16 * 1024 * 1024

IMAGE_MAX_SIDE = 4096  # pixels: longer images are reduced to this longest side after decoding


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB, keeping the picture's tones.

    16- and 32-bit integer and float modes are rescaled to 8 bits (Pillow's own conversion
    clips them, turning a 16-bit grey picture white); transparency is flattened onto white.
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16"):
            top = 65535.0
        elif im.mode == "I":
            top = 65535.0 if values.max(initial=0) > 255 else 255.0
        else:  # float: 0..1 when it fits, else its own range
            low, high = float(values.min(initial=0)), float(values.max(initial=0))
            values, top = (values, 1.0) if low >= 0 and high <= 1 else (values - low, max(high - low, 1e-12))
        grey = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _is_heic(path: str) -> bool:
    """An ISO-BMFF file whose brand is one of HEIC's (HEVC-coded HEIF)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")


def read_image(path: str, max_side: int = IMAGE_MAX_SIDE) -> Frame:
    """Decode an image as one RGB frame, EXIF orientation applied.

    Any mode (16-bit, float, CMYK, palette, alpha) becomes 8-bit RGB; an image whose longest
    side exceeds ``max_side`` pixels (default :data:`IMAGE_MAX_SIDE`, 0 never reduces) is
    reduced to it, JPEGs already while decoding.
    """
    try:
        with Image.open(path) as im:
            original = im.size
            if max_side > 0 and max(original) > max_side and im.format == "JPEG":
                im.draft("RGB", (max(1, original[0] * max_side // max(original)),
                                 max(1, original[1] * max_side // max(original))))
            im.load()
            if max_side > 0 and max(im.size) > max_side:  # before any copy: a huge PNG is decoded whole
                im.thumbnail((max_side, max_side), Image.Resampling.BOX)
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(_to_rgb(im))
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large to decode safely: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # PIL raises these on corrupt data
        if _is_heic(path):
            raise DecodeError("cannot decode image: a HEIC/HEIF picture, which this install cannot decode "
                              "(Pillow reads AVIF, not HEIC): convert it to JPEG or PNG") from None
        raise DecodeError(f"cannot decode image: {first_line(exc)}") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise DecodeError(f"cannot decode image: unexpected pixel layout {rgb.shape}")
    scale = max(rgb.shape[:2]) / max(original) if max(original) else 1.0
    return Frame(0, 0.0, rgb, 1.0 if abs(scale - 1.0) < 1e-9 else scale)
