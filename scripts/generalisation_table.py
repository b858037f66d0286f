"""Print the cross-source ROC AUC table from runs/generalisation/<model>/*.eval.json (see generalisation.sh)."""

import json
import sys
from pathlib import Path

SOURCES = ["stylegan-ffhq", "lfw-faceswap", "photoshop-ciplab"]


def main(folder: Path) -> None:
    print("| trained on \\ tested on | " + " | ".join(SOURCES) + " |")
    print("|---" * (len(SOURCES) + 1) + "|")
    for trained in SOURCES:
        path = folder / f"{trained}.eval.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        per_source = report["images"]["metrics"]["per_source"]
        cells = []
        for tested in SOURCES:
            m = per_source.get(tested)
            auc = "—" if not m or m.get("roc_auc") is None else f"{m['roc_auc']:.3f}"
            cells.append(f"**{auc}**" if tested == trained else auc)
        print(f"| {trained} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/generalisation/custom-cnn"))
