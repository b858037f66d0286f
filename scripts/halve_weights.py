"""Store a weights file's floating-point tensors as float16: half the bytes in git.

    python scripts/halve_weights.py runs/resnet50/resnet50.safetensors weights/resnet50.safetensors

Writes DST and its card (the source card, with ``"storage": "float16"``, the source file's
sha256 as ``float32_sha256`` and the new sha256), and the source's ``.splits.csv`` and
``.history.*`` beside it when present. The network still computes in float32: the halved
values load into float32 parameters. Check with ``forensics evaluate`` on both files that no
figure moves before shipping the halved file.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from forensics.models.ensemble import FlipMean
from forensics.models.weights import load_weights, save_weights, sha256_file


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = Path(argv[0]), Path(argv[1])
    model, card = load_weights(src)
    if isinstance(model, FlipMean):  # the card, not the file, asks for the mirror
        model = model.network
    card = dict(card, float32_sha256=sha256_file(src))
    card = save_weights(model, dst, card, half=True)
    for suffix in (".splits.csv", ".history.csv", ".history.png"):
        extra = src.with_name(src.stem + suffix)
        if extra.exists():
            shutil.copyfile(extra, dst.with_name(dst.stem + suffix))
    print(f"{dst}: {dst.stat().st_size / 2**20:.1f} MiB (from {src.stat().st_size / 2**20:.1f} MiB), "
          f"sha256 {card['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
