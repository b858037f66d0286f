"""Print the model table of docs/models.md from runs/models/ (see model_table.sh): held-out test ROC AUC
per source from ``<model>.eval.json`` and training/inference images per second from ``speed.json``."""

import json
import sys
from pathlib import Path

SOURCES = ["lfw-faceswap", "stylegan-ffhq", "photoshop-ciplab"]


def main(folder: Path) -> None:
    speed = {}
    if (folder / "speed.json").exists():
        speed = {row["model"]: row for row in json.loads((folder / "speed.json").read_text())["models"]}
    print("| model | " + " | ".join(SOURCES) + " | all | train img/s | inference img/s |")
    print("|---" * (len(SOURCES) + 4) + "|")
    for path in sorted(folder.glob("*.eval.json")):
        report = json.loads(path.read_text())
        name = report["model"]
        metrics = report["images"]["metrics"]
        aucs = [metrics["per_source"].get(s, {}).get("roc_auc") for s in SOURCES] + [metrics["all"]["roc_auc"]]
        row = speed.get(name, {})
        speeds = [row.get("train_img_s"), row.get("infer_img_s")]
        text = ["—" if a is None else f"{a:.3f}" for a in aucs] + ["—" if v is None else f"{v:g}" for v in speeds]
        print(f"| `{name}` | " + " | ".join(text) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/models"))
