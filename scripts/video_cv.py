"""Source-grouped cross-validation on labelled videos, scored as `forensics scan` scores.

Every source lies wholly inside one fold, and every fold holds reals and fakes. For each fold
the product's own commands run: ``forensics train`` on the other folds' videos (``--video-frames``;
a validation set drawn from them by video), then ``forensics evaluate`` on the fold's videos
(the scan pipeline: frame sampling, detection, tracking, aggregation). Beside it, on the same
videos: the weights given with ``--baseline`` untouched (e.g. the shipped default), and a
shortcut baseline, a logistic regression on what a video is rather than what it shows (width,
height, aspect, frame rate, duration), trained on the same folds.

    python scripts/video_cv.py ../shared/data/videos/manifest.csv --out runs/video-cv \\
        --baseline weights/efficientnet-lite0.safetensors -- --model efficientnet-lite0 \\
        --pretrained runs/member0.safetensors --epochs 4 --lr 2e-4 --batch-size 32

Member 0 of the shipped ensemble, as a checkpoint to fine-tune from::

    python -c "from safetensors.torch import load_file, save_file; \
    w = load_file('weights/efficientnet-lite0.safetensors'); \
    save_file({k[10:]: v.contiguous() for k, v in w.items() if k.startswith('members.0.')}, 'runs/member0.safetensors')"

Arguments after ``--`` go to ``forensics train``. Writes ``<out>/fold<k>.*`` and
``<out>/summary.json``, and prints the table (Markdown). Needs the shared videos; says so
when they are missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def assign_folds(manifest: pd.DataFrame, folds: int) -> dict[str, int]:
    """Source -> fold: sources with both classes spread first (one per fold while they last),
    then the rest, largest first, each to the fold with the fewest videos of its class."""
    table = manifest.groupby(["source", "label"]).size().unstack(fill_value=0)
    mixed = [s for s in table.index if (table.loc[s] > 0).all()]
    if len(mixed) < folds:
        raise SystemExit(f"only {len(mixed)} sources hold both reals and fakes: at most {len(mixed)} folds")
    fold_of: dict[str, int] = {}
    counts = np.zeros((folds, 2))  # (fake, real) videos per fold
    order = sorted(mixed, key=lambda s: -table.loc[s].sum())
    order += sorted(set(table.index) - set(mixed), key=lambda s: -table.loc[s].sum())
    for k, source in enumerate(order):
        fake, real = table.loc[source, "fake"], table.loc[source, "real"]
        if k < folds:
            fold = k
        else:  # to the fold that lacks most of what this source brings
            need = counts[:, 0] if fake > real else counts[:, 1]
            fold = int(np.argmin(need))
        fold_of[source] = fold
        counts[fold] += (fake, real)
    return fold_of


def video_facts(path: str) -> dict[str, float]:
    """What a video is, not what it shows: size, aspect, frame rate and duration."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 0)
        duration = float(container.duration or 0) / 1e6
        width, height = stream.codec_context.width, stream.codec_context.height
    return {"width": width, "height": height, "aspect": width / max(1, height), "fps": fps, "duration_s": duration,
            "pixels": width * height}


def run(command: list[str], log: Path) -> None:
    print("$", " ".join(command), flush=True)
    with log.open("a") as f:
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}; see {log}")


def _rows(report_path: Path, wanted: set[str], fold: int, model: str) -> list[dict]:
    """The video rows of an evaluation report that belong to ``wanted`` (absolute paths)."""
    report = json.loads(report_path.read_text())
    return [{"fold": fold, "model": model, "path": str(Path(r["path"]).resolve()), "label": r["label"],
             "status": r["status"], "score": r["score"], "face_scores": r.get("face_scores"),
             "face_tracks": r.get("face_tracks")}
            for r in report["videos"]["rows"] if str(Path(r["path"]).resolve()) in wanted]


def auc(labels: list[int], scores: list[float]) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None


def main(argv: list[str]) -> int:
    cut = argv.index("--") if "--" in argv else len(argv)
    own, train_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--video-frames", type=int, default=8, help="frames per video in training")
    parser.add_argument("--frames", type=int, default=32, help="frames per video in evaluation (the scan's default)")
    parser.add_argument("--baseline", type=Path, help="weights evaluated untouched on every fold")
    parser.add_argument("--video-level", action="store_true",
                        help="also scan each fold's validation videos and compare video-level calibrations "
                             "(a temperature, and a logistic regression on track statistics) fitted on them")
    args = parser.parse_args(own)
    if not args.manifest.exists():
        print(f"no manifest at {args.manifest}: the shared videos lie beside the project (../shared/data/videos)",
              file=sys.stderr)
        return 2
    forensics = str(Path(sys.executable).with_name("forensics"))
    manifest = pd.read_csv(args.manifest)
    manifest["abs"] = [str((args.manifest.parent / p).resolve()) for p in manifest.path]
    fold_of = assign_folds(manifest, args.folds)
    manifest["fold"] = manifest.source.map(fold_of)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    facts = pd.DataFrame([video_facts(p) for p in manifest["abs"]], index=manifest.index)
    rows = []
    for fold in range(args.folds):
        test = manifest[manifest.fold == fold]
        rest = manifest[manifest.fold != fold].copy()
        # validation: 15% of the training folds' videos, by video, stratified by source and label
        rng = np.random.default_rng(fold)
        rest["split"] = "train"
        for _, group in rest.groupby(["source", "label"]):
            n = int(round(0.15 * len(group)))
            rest.loc[rng.choice(group.index, n, replace=False), "split"] = "valid"
        fold_manifest = pd.concat([rest, test.assign(split="test")])
        csv = args.out / f"fold{fold}.csv"
        fold_manifest[["abs", "label", "source", "split"]].rename(columns={"abs": "path"}).to_csv(csv, index=False)
        weights = args.out / f"fold{fold}.safetensors"
        if not weights.exists():
            run([forensics, "train", str(csv), "--out", str(weights), "--video-frames", str(args.video_frames),
                 *train_args], log)
        result = args.out / f"fold{fold}.eval.json"
        if not result.exists():
            run([forensics, "evaluate", str(csv), "--weights", str(weights), "--split", "test",
                 "--frames", str(args.frames), "--json", str(result)], log)
        rows += _rows(result, set(test["abs"]), fold, "trained")
        if args.video_level:
            result = args.out / f"fold{fold}.valid.json"
            if not result.exists():
                run([forensics, "evaluate", str(csv), "--weights", str(weights), "--split", "valid",
                     "--frames", str(args.frames), "--json", str(result)], log)
            rows += _rows(result, set(rest.loc[rest.split == "valid", "abs"]), fold, "trained-valid")
        if args.baseline is not None:  # never trained on these videos: one evaluation of them all
            result = args.out / "baseline.eval.json"
            if not result.exists():
                run([forensics, "evaluate", str(args.manifest), "--weights", str(args.baseline), "--split", "all",
                     "--frames", str(args.frames), "--json", str(result)], log)
            rows += _rows(result, set(test["abs"]), fold, "baseline")
        # the shortcut: what the video is, learnt on the training folds
        shortcut = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        shortcut.fit(facts.loc[rest.index], (rest.label == "fake").astype(int))
        for i, p in zip(test.index, shortcut.predict_proba(facts.loc[test.index])[:, 1]):
            rows.append({"fold": fold, "model": "shortcut", "path": manifest.loc[i, "abs"],
                         "label": int(manifest.loc[i, "label"] == "fake"), "status": "ok", "score": float(p),
                         "face_scores": None, "face_tracks": None})
    scored = pd.DataFrame(rows)
    scored["source"] = scored.path.map(dict(zip(manifest["abs"], manifest.source)))
    scored.drop(columns=["face_scores", "face_tracks"]).to_csv(args.out / "scores.csv", index=False)
    summary = {"folds": {str(k): sorted(s for s, f in fold_of.items() if f == k) for k in range(args.folds)},
               "by_model": {}}
    if args.video_level:
        summary["video_level"] = compare_video_level(scored)
        scored = scored[scored.model != "trained-valid"]
    for model, part in scored.groupby("model"):
        ok = part[part.status == "ok"]
        summary["by_model"][model] = {
            "pooled_auc": auc(ok.label.tolist(), ok.score.tolist()),
            "videos": len(part), "not_scored": int((part.status != "ok").sum()),
            "per_fold": {str(f): auc(g.label.tolist(), g.score.tolist()) for f, g in ok.groupby("fold")},
            "per_source": {s: {"auc": auc(g.label.tolist(), g.score.tolist()), "n": len(g),
                               "mean_score": float(g.score.mean()),
                               "accuracy": float(((g.score >= 0.5).astype(int) == g.label).mean())}
                           for s, g in ok.groupby("source")},
        }
    summary["aggregation"] = compare_aggregations(scored)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    return 0


def compare_aggregations(scored: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Pooled video AUC of each model under each track aggregation, from the faces' scores
    (media = its most fake track, as a scan decides)."""
    from forensics.aggregate import media_score

    out: dict[str, dict[str, float | None]] = {}
    for model, part in scored.groupby("model"):
        ok = part[(part.status == "ok") & part.face_scores.notna()]
        if ok.empty:
            continue
        out[model] = {}
        for strategy in ("confident", "mean", "max", "topk"):
            scores = [media_score(np.array(f), np.array(t), strategy)[0] for f, t in zip(ok.face_scores, ok.face_tracks)]
            out[model][strategy] = auc(ok.label.tolist(), scores)
    return out


def track_statistics(face_scores: list[float], face_tracks: list[int]) -> np.ndarray:
    """Statistics of a video's most fake track, in logits: confident score, mean, max,
    top-5 mean, standard deviation, and the log of its face count."""
    from forensics.aggregate import media_score

    scores, tracks = np.clip(np.array(face_scores, dtype=float), 1e-6, 1 - 1e-6), np.array(face_tracks)
    _, by_track = media_score(scores, tracks, "confident")
    worst = max(by_track, key=by_track.get)
    logits = np.log(scores[tracks == worst] / (1 - scores[tracks == worst]))
    confident = np.clip(by_track[worst], 1e-6, 1 - 1e-6)
    return np.array([np.log(confident / (1 - confident)), logits.mean(), logits.max(),
                     np.sort(logits)[-5:].mean(), logits.std(), np.log(len(logits))])


def compare_video_level(scored: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Video-level decisions fitted on each fold's validation videos (scored by that fold's
    network, as a scan scores) and applied to its held-out test videos: pooled AUC, accuracy
    at 0.5 and ECE of the plain `confident` score, of a temperature on its logit, and of a
    logistic regression on :func:`track_statistics`."""
    from forensics.train.metrics import expected_calibration_error
    from forensics.train.loop import fit_temperature

    ok = scored[(scored.status == "ok") & scored.face_scores.notna()]
    outcomes: dict[str, tuple[list, list]] = {k: ([], []) for k in ("confident", "temperature", "track-statistics")}
    for fold, part in ok.groupby("fold"):
        valid, test = part[part.model == "trained-valid"], part[part.model == "trained"]
        if valid.label.nunique() < 2 or test.empty:
            continue
        fv = np.stack([track_statistics(f, t) for f, t in zip(valid.face_scores, valid.face_tracks)])
        ft = np.stack([track_statistics(f, t) for f, t in zip(test.face_scores, test.face_tracks)])
        temperature = fit_temperature(fv[:, 0], valid.label.to_numpy())
        learnt = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=1000)).fit(fv, valid.label)
        for name, probs in (("confident", 1 / (1 + np.exp(-ft[:, 0]))),
                            ("temperature", 1 / (1 + np.exp(-ft[:, 0] / temperature))),
                            ("track-statistics", learnt.predict_proba(ft)[:, 1])):
            outcomes[name][0].extend(test.label.tolist())
            outcomes[name][1].extend(probs.tolist())
    out = {}
    for name, (labels, probs) in outcomes.items():
        if not labels:
            continue
        y, p = np.array(labels), np.array(probs)
        out[name] = {"pooled_auc": auc(labels, probs), "accuracy": float(((p >= 0.5) == y).mean()),
                     "ece": float(expected_calibration_error(y, p)), "videos": len(y)}
    return out


def print_table(summary: dict) -> None:
    models = list(summary["by_model"])
    print("| | " + " | ".join(models) + " |")
    print("|---|" + "---:|" * len(models))
    fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
    print("| pooled video AUC | " + " | ".join(fmt(summary["by_model"][m]["pooled_auc"]) for m in models) + " |")
    for fold, sources in summary["folds"].items():
        print(f"| fold {fold} ({', '.join(sources)}) | "
              + " | ".join(fmt(summary["by_model"][m]["per_fold"].get(fold)) for m in models) + " |")
    print()
    print("| source | videos | " + " | ".join(f"{m} acc / mean score" for m in models) + " |")
    print("|---|---:|" + "---:|" * len(models))
    sources = sorted(summary["by_model"][models[0]]["per_source"])
    for source in sources:
        cells = []
        for m in models:
            s = summary["by_model"][m]["per_source"].get(source)
            cells.append("—" if s is None else f"{s['accuracy']:.2f} / {s['mean_score']:.2f}")
        n = summary["by_model"][models[0]]["per_source"][source]["n"]
        print(f"| {source} | {n} | " + " | ".join(cells) + " |")
    print()
    for name, figures in summary.get("video_level", {}).items():
        print(f"video level, {name}: pooled AUC {fmt(figures['pooled_auc'])}, accuracy {figures['accuracy']:.3f}, "
              f"ECE {figures['ece']:.3f} ({figures['videos']} videos)")
    for model, by_strategy in summary.get("aggregation", {}).items():
        print(f"{model}: pooled AUC by track aggregation: "
              + ", ".join(f"{k} {fmt(v)}" for k, v in by_strategy.items()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
