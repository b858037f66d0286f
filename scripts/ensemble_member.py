"""Write one member of a shipped ensemble as weights of its own: weights, card and split file.

`forensics ensemble` then scores that member alone, with or without its mirror, on the
ensemble's own split (temperature refitted, held-out metrics measured), and `forensics
evaluate` measures it as a scan scores. This is how the cheapest scoring within reach of the
default was measured (docs/evaluation.md, "One network distilled from the default")::

    python scripts/ensemble_member.py weights/efficientnet-lite0.safetensors 0 --out runs/m0/m0.safetensors
    forensics ensemble runs/m0/m0.safetensors --tta hflip --out runs/m0h/m0h.safetensors

The member's card is the ensemble's with the ensemble fields taken out (``tta`` none, the
member's own sha256); its split file is the ensemble's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble", type=Path, help="ensemble weights (.safetensors, card and split file beside)")
    parser.add_argument("member", type=int, help="index of the member, from 0")
    parser.add_argument("--out", type=Path, required=True, help="member weights to write (.safetensors)")
    args = parser.parse_args()

    card = json.loads(args.ensemble.with_suffix(".json").read_text())
    members = (card.get("ensemble") or {}).get("members") or []
    if not 0 <= args.member < len(members):
        raise SystemExit(f"{args.ensemble} has {len(members)} member(s); no member {args.member}")
    prefix = f"members.{args.member}."
    tensors = {k[len(prefix):]: v.contiguous() for k, v in load_file(str(args.ensemble)).items() if k.startswith(prefix)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out))

    member = members[args.member]
    for key in ("ensemble", "why_default", "evaluation"):
        card.pop(key, None)
    card.update(name=f"{card.get('name', card['model'])}, member {args.member} (seed {member.get('seed')})",
                tta="none", file=args.out.name, sha256=hashlib.sha256(args.out.read_bytes()).hexdigest(),
                member_of={"file": args.ensemble.name, "sha256": card["sha256"], "index": args.member})
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    shutil.copy(args.ensemble.with_suffix(".splits.csv"), args.out.with_suffix(".splits.csv"))
    print(f"wrote {args.out} ({len(tensors)} tensors) with its card and split file")


if __name__ == "__main__":
    main()
