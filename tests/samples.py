"""Small sample media from two public-domain portraits: scikit-image's astronaut photo (Eileen
Collins, NASA) and matplotlib's Grace Hopper (US Navy).

Real: both stills, and a short clip in which the astronaut's face moves across the frame.
Fake: a face swap (Grace Hopper's face on the astronaut, by :func:`forensics.manipulate.swap_face`)
as a still and a clip; the astronaut with her face blended into a shifted, colour-changed copy
of itself (:func:`forensics.manipulate.blend_face`) as a still and a clip; a two-person clip
(one real face, one manipulated). And a picture with no face. Tests build their media with
these functions too. Needs scikit-image (the ``test`` extra).

And one file that declares itself AI-generated: the real astronaut photo with Content
Credentials (C2PA) that say it was created by a generator (``trainedAlgorithmicMedia``),
signed with a test certificate chain made on the spot (``tests/provenance_media.py``; its root
is written beside the folder, ``c2pa-test-root.pem``, for ``--trust-anchors``; its key is not
kept). The declaration is made up: it shows how a scan reports what a file says about itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from forensics.manipulate import BlendParams, blend_face, swap_face


def astronaut() -> np.ndarray:
    """The astronaut photo, RGB ``uint8`` (512, 512, 3)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    """Grace Hopper's portrait (US Navy, public domain) as matplotlib ships it, RGB ``uint8`` (600, 512, 3)."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB")).copy()


def face_swapped() -> np.ndarray:
    """The astronaut with Grace Hopper's face swapped in (landmark-aligned, colour-matched, blended)."""
    target, source = astronaut(), grace_hopper()
    return swap_face(target, find_landmarks(target), source, find_landmarks(source))


def no_face_picture() -> np.ndarray:
    """A picture without a face (scikit-image's coffee cup, public domain), RGB ``uint8``."""
    from skimage import data

    return np.ascontiguousarray(data.coffee())


def _most_probable_face(image: np.ndarray):
    from forensics.faces.detect import FaceDetector

    faces = FaceDetector("cpu", detect_size=0, min_prob=0.9, min_face_px=20).detect([image])[0]
    if not faces:
        raise RuntimeError("no face found in the sample picture")
    return max(faces, key=lambda d: d.prob)


def find_face(image: np.ndarray) -> np.ndarray:
    """The box of the most probable face, found by the project's detector."""
    return _most_probable_face(image).box


def find_landmarks(image: np.ndarray) -> np.ndarray:
    """The five landmarks (5, 2) of the most probable face, found by the project's detector."""
    return _most_probable_face(image).landmarks


def manipulated(image: np.ndarray, params: BlendParams = BlendParams()) -> np.ndarray:
    """``image`` with its face manipulated."""
    return blend_face(image, find_face(image), params)


def write_image(path: str | os.PathLike[str], image: np.ndarray, quality: int = 92) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def write_clip(
    path: str | os.PathLike[str],
    pictures: list[np.ndarray],
    seconds: float = 2.0,
    fps: float = 15.0,
    size: tuple[int, int] = (640, 360),
    face_height: int = 260,
) -> Path:
    """An MPEG-4 clip of ``pictures`` side by side, sliding across a grey frame.

    Args:
        path: output ``.mp4``.
        pictures: RGB images, each shown ``face_height`` pixels tall, left to right.
        seconds: duration; fps: frame rate; size: (width, height) of the frame.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    tiles = [cv2.resize(p, (round(p.shape[1] * face_height / p.shape[0]), face_height), interpolation=cv2.INTER_AREA)
             for p in pictures]
    strip = np.concatenate(tiles, axis=1)
    travel = max(0, width - strip.shape[1])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MPEG-4 video here")
    count = max(1, round(seconds * fps))
    top = (height - face_height) // 2
    for k in range(count):
        frame = np.full((height, width, 3), 96, np.uint8)
        left = round(travel * k / max(1, count - 1))
        visible = strip[:, : width - left]
        frame[top : top + face_height, left : left + visible.shape[1]] = visible
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


AI_DECLARED_SAMPLE = "astronaut-c2pa-ai-declared.jpg"
TEST_ROOT = "c2pa-test-root.pem"


def write_ai_declared(path: str | os.PathLike[str], picture: np.ndarray, root: str | os.PathLike[str] | None = None) -> Path:
    """``picture`` as a JPEG whose Content Credentials declare it created by a generator
    (``c2pa.created``, ``trainedAlgorithmicMedia``), signed with a fresh test chain; its root
    certificate goes to ``root`` when given."""
    from provenance_media import make_test_chain, sign

    path = Path(path)
    chain = make_test_chain("forensics sample test CA (not a real signer)", "forensics tests/samples.py")
    unsigned = write_image(path.with_name(path.stem + ".unsigned.jpg"), picture)
    try:
        sign(unsigned, path, chain, "trainedAlgorithmicMedia", tool="forensics sample generator (test certificate)")
    finally:
        unsigned.unlink()
    if root is not None:
        Path(root).write_bytes(chain.root_pem)
    return path


def make_samples(folder: str | os.PathLike[str], face_swap: bool = True, content_credentials: bool = True) -> list[Path]:
    """Write the sample media set into ``folder``; returns the files written. ``face_swap=False``
    leaves out Grace Hopper and the face swap, ``content_credentials=False`` the signed
    AI-declared sample (the tests' smaller set)."""
    folder = Path(folder)
    real = astronaut()
    fake = manipulated(real)
    written = []
    if face_swap:
        swapped = face_swapped()
        written = [write_image(folder / "grace-hopper.jpg", grace_hopper()),
                   write_image(folder / "faceswap-hopper-on-astronaut.jpg", swapped),
                   write_clip(folder / "faceswap-hopper-on-astronaut-clip.mp4", [swapped])]
    if content_credentials:
        written.append(write_ai_declared(folder / AI_DECLARED_SAMPLE, real, root=folder.parent / TEST_ROOT))
    return written + [
        write_image(folder / "astronaut.jpg", real),
        write_image(folder / "astronaut-manipulated.jpg", fake),
        write_image(folder / "coffee-no-face.jpg", no_face_picture()),
        write_clip(folder / "astronaut-clip.mp4", [real]),
        write_clip(folder / "astronaut-clip-manipulated.mp4", [fake]),
        write_clip(folder / "two-people-one-manipulated.mp4", [real, fake], size=(720, 360), face_height=220),
    ]


def make_face_dataset(folder: str | os.PathLike[str], count: int = 10, seed: int = 0) -> Path:
    """A small labelled set: ``count`` jittered astronauts in ``real/`` and as many manipulated
    ones in ``fake/``, and ``manifest.csv`` (path,label,source; sources ``set-a``/``set-b``)."""
    import pandas as pd

    folder = Path(folder)
    picture = astronaut()
    box = find_face(picture)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(count):
        angle, zoom = rng.uniform(-8, 8), rng.uniform(0.9, 1.1)
        warp = cv2.getRotationMatrix2D((256, 256), angle, zoom)
        real = cv2.warpAffine(picture, warp, (512, 512), borderMode=cv2.BORDER_REFLECT101)
        fake = cv2.warpAffine(blend_face(picture, box, BlendParams.random(rng)), warp, (512, 512),
                              borderMode=cv2.BORDER_REFLECT101)
        source = "set-a" if k % 2 else "set-b"
        write_image(folder / "real" / f"r{k:02d}.jpg", real)
        write_image(folder / "fake" / f"f{k:02d}.jpg", fake)
        rows += [{"path": f"real/r{k:02d}.jpg", "label": "real", "source": source},
                 {"path": f"fake/f{k:02d}.jpg", "label": "fake", "source": source}]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder


if __name__ == "__main__":  # python tests/samples.py [FOLDER]: the README's sample media
    import sys

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "examples" / "media"
    for path in make_samples(folder):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KiB")
