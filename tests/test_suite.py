"""A suite of detectors, one per family: each family's score per face and per media, their
combination, the verdict's family, calibration on real videos, and bad suite cards.

The members are seeded custom-cnn networks (no trained model is needed to check the plumbing);
their calibration shifts are set by hand so that one family fires and the other does not.
The scans are real: decoded sample media, MTCNN, tracking, aggregation, the Parquet reports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tolerances import SAME_BATCH_SCORE_ATOL, SCORE_ATOL
from typer.testing import CliRunner

from forensics.families import FAMILIES, VERDICT_FAMILIES
from forensics.aggregate import media_score, shift_logits
from forensics.cli import app
from forensics.config import ScanConfig
from forensics.models.weights import WeightsError
from forensics.report.schema import faces_path
from forensics.runner import run_scan
from forensics.score import FaceScorer, SuiteScorer, open_scorer
from forensics.train.suite import fit_shift, write_suite_card

FIRES, QUIET = -6.0, 6.0  # logit shifts: every seeded score above the threshold, or below it


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> dict[str, Path]:
    """Three seeded custom-cnn weights files with cards (same crop policy), one per family."""
    import torch

    from forensics.faces.align import CropPolicy
    from forensics.models.registry import build_model, get_model_spec
    from forensics.models.weights import save_weights

    folder = tmp_path_factory.mktemp("members")
    out = {}
    for seed, family in enumerate(("blend", "synthesis", "animation")):
        torch.manual_seed(seed)
        path = folder / f"{family}.safetensors"
        save_weights(build_model("custom-cnn"), path,
                     {"model": "custom-cnn", "crop_policy": CropPolicy(size=get_model_spec("custom-cnn").input_size).to_dict()})
        out[family] = path
    return out


def suite(members: dict[str, Path], folder: Path, shifts: dict[str, float], name: str = "suite.json",
          kinds: dict[str, list[str]] | None = None) -> Path:
    """A suite card of ``members``: each family moved by its shift (QUIET where none is given)."""
    path = folder / name
    write_suite_card(path, members, "test suite", calibration={f: {"logit_shift": shifts.get(f, QUIET)} for f in members},
                     kinds=kinds)
    return path


@pytest.fixture(scope="module")
def scanned(members, media_dir: Path, tmp_path_factory):
    """The sample media scanned by a suite whose blend detector fires and synthesis one does not."""
    folder = tmp_path_factory.mktemp("suite-scan")
    card = suite(members, folder, {"blend": FIRES, "synthesis": QUIET})
    config = ScanConfig(frames=6, threads=1, weights=str(card))
    run_scan([str(media_dir)], config, folder / "report.parquet", quiet=True)
    return card, pq.read_table(folder / "report.parquet").to_pandas(), pq.read_table(faces_path(folder / "report.parquet")).to_pandas()


def test_each_face_has_each_familys_calibrated_score_and_the_highest_is_its_score(members, scanned):
    card, media, faces = scanned
    assert len(faces) > 0
    for family in FAMILIES:
        assert faces[f"score_{family}"].notna().all()
    np.testing.assert_allclose(faces["score"], faces[[f"score_{f}" for f in FAMILIES]].max(axis=1),
                               rtol=0, atol=SAME_BATCH_SCORE_ATOL)
    # the shifts were applied: the firing family is above the threshold on every face, the other below
    assert (faces["score_blend"] > 0.5).all() and (faces["score_synthesis"] < 0.5).all()


def test_a_family_score_is_the_members_own_score_moved_by_its_calibration(members, scanned, media_dir):
    from forensics.faces.align import crop_face
    from forensics.faces.detect import FaceDetector
    from forensics.media.image import read_image

    card, _, _ = scanned
    image = read_image(str(media_dir / "astronaut.jpg")).image
    face = FaceDetector("cpu").detect([image])[0][0]
    scorer = SuiteScorer(card)
    crop = crop_face(image, face.box, face.landmarks, scorer.crop_policy)[None]
    table = scorer.score_by_family(crop)
    for k, (family, shift) in enumerate((("blend", FIRES), ("synthesis", QUIET), ("animation", QUIET))):
        own = FaceScorer(weights=members[family]).score(crop)
        np.testing.assert_allclose(table[:, 1 + k], shift_logits(own, shift), rtol=0, atol=SAME_BATCH_SCORE_ATOL)
    assert scorer.families == ("blend", "synthesis", "animation")


def test_the_media_score_is_the_highest_family_media_score_and_the_verdict_names_it(scanned):
    _, media, faces = scanned
    ok = media[media["status"] == "ok"]
    assert len(ok) >= 3
    for row in ok.itertuples():
        mine = faces[faces["path"] == row.path]
        min_faces = 2 if row.kind == "video" else 1
        for family in FAMILIES:
            want, _ = media_score(mine[f"score_{family}"].to_numpy(), mine["track_id"].to_numpy(), "confident", 5, min_faces)
            assert getattr(row, f"score_{family}") == pytest.approx(want, abs=SAME_BATCH_SCORE_ATOL)
        assert row.score == pytest.approx(max(getattr(row, f"score_{f}") for f in FAMILIES), abs=SAME_BATCH_SCORE_ATOL)
        assert (row.verdict, row.family) == ("fake", "blend")
    # media without a score have no family and no family scores
    for row in media[media["status"] != "ok"].itertuples():
        assert pd.isna(row.family) and pd.isna(row.score_blend) and pd.isna(row.score_synthesis)


def test_the_other_family_fires_when_the_calibration_says_so(members, media_dir, tmp_path):
    card = suite(members, tmp_path, {"blend": QUIET, "synthesis": FIRES})
    run_scan([str(media_dir / "astronaut.jpg")], ScanConfig(threads=1, weights=str(card)), tmp_path / "r.parquet", quiet=True)
    row = pq.read_table(tmp_path / "r.parquet").to_pylist()[0]
    assert (row["verdict"], row["family"]) == ("fake", "synthesis")
    card = suite(members, tmp_path, {"blend": QUIET, "synthesis": QUIET}, "quiet.json")
    run_scan([str(media_dir / "astronaut.jpg")], ScanConfig(threads=1, weights=str(card)), tmp_path / "q.parquet", quiet=True)
    row = pq.read_table(tmp_path / "q.parquet").to_pylist()[0]
    assert (row["verdict"], row["family"]) == ("real", None)


def test_a_single_model_without_a_family_leaves_the_family_columns_empty(members, media_dir, tmp_path):
    run_scan([str(media_dir / "astronaut.jpg")], ScanConfig(threads=1, weights=str(members["blend"])),
             tmp_path / "r.parquet", quiet=True)
    row = pq.read_table(tmp_path / "r.parquet").to_pylist()[0]
    assert row["status"] == "ok" and row["family"] is None
    assert row["score_blend"] is None and row["score_synthesis"] is None


def test_the_summary_and_the_review_show_each_familys_score(scanned, tmp_path):
    card, media, _ = scanned
    report = Path(card).with_name("report.parquet")
    result = CliRunner().invoke(app, ["summary", str(report)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fake: blending traces" in result.output
    assert "blend" in result.output and "synthesis" in result.output
    from forensics.report.html import review_data

    data = review_data(report, tmp_path)
    k, path = data["columns"].index("family_scores"), data["columns"].index("path")
    shown = {r[path]: r[k] for r in data["media"] if r[data["columns"].index("status")] == "ok"}
    assert shown and all(set(s) == set(FAMILIES) for s in shown.values())
    for row in media[media["status"] == "ok"].itertuples():  # the values the verdict was made of
        for family in FAMILIES:
            assert shown[row.path][family] == pytest.approx(getattr(row, f"score_{family}"), abs=1e-12)
    assert data["families"] == VERDICT_FAMILIES  # the detectors' families and the file's own declaration


def test_the_review_shows_the_track_scores_that_made_the_verdict(members, media_dir, tmp_path):
    # Each family centred on its own median face score: the seeded networks' scores then cross
    # face by face, so a track's score (the highest of its families' track scores) is not the
    # track score of each face's highest family score, which is what the page used to show.
    config = ScanConfig(frames=6, threads=1, weights=str(suite(members, tmp_path, {f: 0.0 for f in members}, "raw.json")))
    run_scan([str(media_dir)], config, tmp_path / "raw.parquet", quiet=True)
    raw = pq.read_table(faces_path(tmp_path / "raw.parquet")).to_pandas()
    centre = {f: float(np.median(np.log(raw[f"score_{f}"] / (1 - raw[f"score_{f}"])))) for f in members}
    card = suite(members, tmp_path, centre)
    report = tmp_path / "report.parquet"
    run_scan([str(media_dir)], ScanConfig(frames=6, threads=1, weights=str(card)), report, quiet=True)
    from forensics.aggregate import track_score
    from forensics.report.html import review_data

    media = pq.read_table(report).to_pylist()
    faces = pq.read_table(faces_path(report)).to_pandas()
    details = dict(zip([m["path"] for m in media], review_data(report, tmp_path)["details"]))
    differs = 0
    for row in (m for m in media if m["status"] == "ok"):
        decided = {t["track_id"]: t for t in row["track_scores"]}
        assert len(decided) == row["tracks"]
        # the media's score is the highest counted track's, each track's the highest of its families'
        assert row["score"] == max(t["score"] for t in decided.values() if t["counted"])
        for t in decided.values():
            assert t["score"] == max(t[f"score_{f}"] for f in FAMILIES)
        shown = details[row["path"]]["tracks"]
        assert {t["id"] for t in shown} == set(decided)
        for t in shown:
            assert t["score"] == pytest.approx(decided[t["id"]]["score"], abs=1e-12)
            assert t["families"] == pytest.approx({f: decided[t["id"]][f"score_{f}"] for f in FAMILIES}, abs=1e-12)
            mine = faces[(faces["path"] == row["path"]) & (faces["track_id"] == t["id"])]
            differs += abs(track_score(mine["score"].to_numpy()) - t["score"]) > 1e-6
    assert differs, "the families agreed everywhere: this scan cannot tell the page's scores from a recomputation"


def test_a_family_for_videos_only_and_a_calibration_for_stills(members, media_dir, tmp_path):
    """The animation member judges videos only; synthesis fires on videos and is calibrated
    quiet on stills: the photo is real with no animation score, the clip fake by animation."""
    card = suite(members, tmp_path, {"synthesis": FIRES, "animation": FIRES - 3}, kinds={"animation": ["video"]})
    data = json.loads(card.read_text())
    data["members"][1]["calibration"]["image"] = {"logit_shift": QUIET}
    card.write_text(json.dumps(data))
    inputs = [str(media_dir / n) for n in ("astronaut.jpg", "astronaut-clip.mp4")]
    run_scan(inputs, ScanConfig(frames=6, threads=1, weights=str(card)), tmp_path / "r.parquet", quiet=True)
    photo, clip = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert photo["score_animation"] is None and photo["score_synthesis"] < 0.5 and photo["score_blend"] < 0.5
    assert (photo["verdict"], photo["family"]) == ("real", None)
    assert clip["score_animation"] > 0.5 and clip["score_synthesis"] > 0.5
    assert (clip["verdict"], clip["family"]) == ("fake", "animation")
    faces = pq.read_table(faces_path(tmp_path / "r.parquet")).to_pandas()
    still = faces[faces["path"] == photo["path"]]
    assert still["score_animation"].isna().all()
    np.testing.assert_allclose(still["score"], still[["score_blend", "score_synthesis"]].max(axis=1), rtol=0,
                               atol=SAME_BATCH_SCORE_ATOL)
    # the still's synthesis score is the member's own moved by the stills' shift, not the videos'
    scorer = SuiteScorer(card)
    table = scorer.score_by_family(np.zeros((1, scorer.crop_policy.size, scorer.crop_policy.size, 3), np.uint8))
    moved = scorer.for_kind("image", table)
    np.testing.assert_allclose(moved[0, 2], shift_logits(table[0, 2:3], QUIET - FIRES)[0], rtol=1e-5)
    assert np.isnan(moved[0, 3]) and np.array_equal(scorer.for_kind("video", table), table)
    data["members"][2]["kinds"] = ["photo"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="kinds"):
        open_scorer(weights=tmp_path / "bad.json")


def test_suite_build_calibrates_stills_apart_and_keeps_the_families_that_rank_them(members, media_dir, tmp_path):
    from samples import make_face_dataset

    images = make_face_dataset(tmp_path / "images", count=6, seed=3)
    reals = tmp_path / "reals" / "real"
    reals.mkdir(parents=True)
    shutil.copy(media_dir / "astronaut-clip.mp4", reals / "a.mp4")
    out = tmp_path / "suite.json"
    result = CliRunner().invoke(app, ["suite", "build", str(out), *[f"--member={f}={p}" for f, p in members.items()],
                                      "--reals", str(reals.parent), "--images", str(images), "--image-rate", "0",
                                      "--frames", "6", "--threads", "1"])
    assert result.exit_code == 0, result.output
    card = json.loads(out.read_text())
    stills = card["calibration"]["images"]
    assert len(stills["auc_of_each_choice"]) == 7  # every non-empty subset of three families
    best = max(stills["auc_of_each_choice"].values())
    assert stills["auc_of_each_choice"]["+".join(stills["judge_stills"])] == best
    for member in card["members"]:
        assert member["calibration"]["image"]["flagged"] == 0
        assert member["calibration"]["image"]["real_images"] == stills["real_images"] > 0
        assert member.get("kinds") == (["image", "video"] if member["family"] in stills["judge_stills"] else ["video"])
    open_scorer(weights=out)  # a card it wrote loads


def test_the_false_alarm_bound_is_clopper_pearson():
    from forensics.train.suite import flag_rate_bound

    assert flag_rate_bound(0, 30) == pytest.approx(1 - 0.05 ** (1 / 30), rel=1e-6)  # the rule of three's exact form
    assert flag_rate_bound(2, 100) > 2 / 100 and flag_rate_bound(2, 100) == pytest.approx(0.0616, abs=5e-4)
    assert flag_rate_bound(5, 5) == 1.0


def test_fit_shift_flags_at_most_the_rate_of_real_videos():
    rng = np.random.default_rng(0)
    videos = [(rng.uniform(0.3, 0.95, 12), np.zeros(12, np.int64)) for _ in range(20)]
    from forensics.config import Aggregation

    for rate, allowed in ((0.0, 0), (0.05, 1), (0.2, 4)):
        fit = fit_shift(videos, rate, Aggregation())
        flagged = sum(media_score(shift_logits(s, fit["logit_shift"]), t, "confident", 5, 2)[0] >= 0.5 for s, t in videos)
        # the smallest such shift: exactly the allowed share stays flagged (distinct scores), not fewer
        assert flagged == fit["flagged"] == allowed
        assert fit["real_videos"] == 20
        lower = fit["logit_shift"] - 2e-3
        assert sum(media_score(shift_logits(s, lower), t, "confident", 5, 2)[0] >= 0.5 for s, t in videos) > allowed


def test_suite_build_calibrates_each_family_on_real_videos(members, media_dir, tmp_path):
    reals = tmp_path / "reals" / "real"
    reals.mkdir(parents=True)
    for name in ("astronaut-clip.mp4", "astronaut-clip-manipulated.mp4"):  # both count as real here
        shutil.copy(media_dir / name, reals / name)
    more = tmp_path / "more" / "real"  # real videos only the synthesis member is calibrated on
    more.mkdir(parents=True)
    shutil.copy(media_dir / "two-people-one-manipulated.mp4", more / "two-people.mp4")
    out = tmp_path / "suite.json"
    result = CliRunner().invoke(app, ["suite", "build", str(out), "--member", f"blend={members['blend']}",
                                      "--member", f"synthesis={members['synthesis']}", "--reals", str(reals.parent),
                                      "--reals-for", f"synthesis={more.parent}",
                                      "--rate", "0", "--frames", "6", "--threads", "1"])
    assert result.exit_code == 0, result.output
    card = json.loads(out.read_text())
    assert [m["family"] for m in card["members"]] == ["blend", "synthesis"]
    assert card["calibration"]["real_videos"] == 2 and card["calibration"]["rate"] == 0
    blend, synthesis = (m["calibration"] for m in card["members"])
    assert blend["real_videos"] == 2 and "more_data" not in blend
    assert synthesis["real_videos"] == 3 and synthesis["more_data"] == str(more.parent)
    for member in card["members"]:
        assert member["calibration"]["flagged"] == 0
        assert not Path(member["weights"]).is_absolute()
    # the synthesis member's shift keeps its extra video under the threshold too
    run_scan([str(more)], ScanConfig(frames=6, threads=1, weights=str(out)), tmp_path / "m.parquet", quiet=True)
    assert pq.read_table(tmp_path / "m.parquet").to_pylist()[0]["score_synthesis"] < 0.5
    run_scan([str(reals)], ScanConfig(frames=6, threads=1, weights=str(out)), tmp_path / "r.parquet", quiet=True)
    rows = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [r["verdict"] for r in rows] == ["real", "real"]
    # the calibration sits at the edge: the most fake-looking real video is just under the threshold
    assert max(r["score"] for r in rows) > 0.5 - 0.05


def test_suite_build_refuses_extra_reals_it_cannot_use(members, tmp_path):
    base = ["suite", "build", str(tmp_path / "suite.json"), "--member", f"blend={members['blend']}",
            "--reals", str(tmp_path)]
    missing = CliRunner().invoke(app, [*base, "--reals-for", f"synthesis={tmp_path / 'nowhere'}"])
    assert missing.exit_code == 2 and "--reals-for" in missing.output
    from forensics.train.suite import build_suite

    with pytest.raises(ValueError, match="not a member"):  # no member of that family to calibrate
        build_suite(tmp_path / "suite.json", {"blend": members["blend"]}, tmp_path, reals_for={"synthesis": tmp_path})
    assert not (tmp_path / "suite.json").exists(), "nothing is written before the arguments are checked"


def test_bad_suite_cards_are_refused_with_a_reason(members, tmp_path):
    card = suite(members, tmp_path, {})
    data = json.loads(card.read_text())
    data["members"][0]["sha256"] = "0" * 64
    (tmp_path / "altered.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="not the file the card names"):
        open_scorer(weights=tmp_path / "altered.json")
    data = json.loads(card.read_text())
    data["members"][1]["family"] = "blend"
    (tmp_path / "twice.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="names a family twice"):
        open_scorer(weights=tmp_path / "twice.json")
    data = json.loads(card.read_text())
    data["members"][0]["weights"] = "gone.safetensors"
    (tmp_path / "lost-member.json").write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["scan", str(tmp_path), "--weights", str(tmp_path / "lost-member.json"),
                                      "--out", str(tmp_path / "r.parquet")], env={"COLUMNS": "400"})
    said = " ".join(result.output.split())  # the message as one line, whatever the console wrapped
    assert result.exit_code == 2 and "detector's weights" in said and "gone.safetensors are missing" in said
    with pytest.raises(WeightsError, match="suite of several models"):
        open_scorer("custom-cnn", card)


def test_batch_make_up_moves_a_family_score_within_the_cross_batch_tolerance(scanned):
    card, _, _ = scanned
    scorer = SuiteScorer(card)
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (5, scorer.crop_policy.size, scorer.crop_policy.size, 3), dtype=np.uint8)
    together = scorer.score_by_family(crops)
    alone = np.concatenate([scorer.score_by_family(crops[i : i + 1]) for i in range(len(crops))])
    np.testing.assert_allclose(together, alone, rtol=0, atol=SCORE_ATOL)


def test_family_metrics_rank_each_detector_and_fakes_only_sources_against_every_real():
    from forensics.train.suite import family_metrics

    def row(label, source, blend, synthesis):
        return {"label": label, "source": source, "status": "ok", "score": max(blend, synthesis),
                "family_scores": {"blend": blend, "synthesis": synthesis}}

    rows = [row(0, "a", 0.1, 0.2), row(0, "a", 0.3, 0.1), row(1, "a", 0.9, 0.1), row(1, "b", 0.2, 0.8),
            row(1, "b", 0.05, 0.6), {"label": 1, "source": "b", "status": "error", "score": None}]
    lines = {(x["detector"], x["source"]): x for x in family_metrics(rows)}
    assert lines[("blend", "a")]["auc"] == 1.0 and lines[("blend", "a")]["auc_against"] is None
    # source b has fakes only: ranked against the two reals of a
    assert lines[("blend", "b")]["auc"] == 0.25 and lines[("blend", "b")]["auc_against"] == "all reals"
    assert lines[("synthesis", "b")]["auc"] == 1.0
    assert (lines[("suite", "all")]["caught"], lines[("suite", "all")]["flagged"]) == (3, 0)
    assert (lines[("blend", "all")]["real"], lines[("blend", "all")]["fake"]) == (2, 3)


def test_a_suite_card_gains_evaluations_of_itself_only(members, tmp_path):
    from forensics.models.weights import SuiteCard
    from forensics.train.release import add_card_evaluations

    card = suite(members, tmp_path, {"blend": 1.0})
    rows = [{"label": 0, "source": "x", "status": "ok", "score": 0.2, "family_scores": {"blend": 0.2, "synthesis": 0.1}},
            {"label": 1, "source": "x", "status": "ok", "score": 0.7, "family_scores": {"blend": 0.7, "synthesis": 0.05}}]
    report = {"sha256": SuiteCard.read(card).sha256, "data": "some/videos", "threshold": 0.5,
              "created": "2026-12-03T00:00:00+00:00", "videos": {"rows": rows}}
    (tmp_path / "eval.json").write_text(json.dumps(report))
    before = SuiteCard.read(card).sha256
    written = add_card_evaluations(card, {"heldout": tmp_path / "eval.json"}, {"heldout": "a note"})
    assert written.get("evaluation")["heldout"]["note"] == "a note"
    assert [x["auc"] for x in written.get("evaluation")["heldout"]["videos"] if x["source"] == "all"] == [1.0, 0.0, 1.0]
    assert SuiteCard.read(card).sha256 == before, "evaluations do not change what the suite scores"
    (tmp_path / "other.json").write_text(json.dumps(dict(report, sha256="0" * 64)))
    with pytest.raises(WeightsError, match="another suite"):
        add_card_evaluations(card, {"other": tmp_path / "other.json"})


def test_a_suites_identity_changes_with_what_decides_its_scores(members, tmp_path):
    from forensics.models.weights import SuiteCard

    card = json.loads(suite(members, tmp_path, {"blend": 1.0}).read_text())
    suite_sha256 = lambda data: SuiteCard.from_dict(data).sha256  # noqa: E731
    base = suite_sha256(card)
    changed = []
    for edit in (lambda c: c["members"][0]["calibration"].update(logit_shift=1.5),
                 lambda c: c["members"][0]["calibration"].update(image={"logit_shift": 0.3}),
                 lambda c: c["members"][1].update(kinds=["video"]),
                 lambda c: c.update(threshold=0.4)):
        other = json.loads(json.dumps(card))
        edit(other)
        changed.append(suite_sha256(other) != base)
    assert changed == [True, True, True, True]
    card["evaluation"] = {"x": {"note": "a figure"}}
    assert suite_sha256(card) == base


def test_a_suite_card_reads_back_what_it_wrote_and_refuses_what_is_not_one(members, tmp_path):
    from forensics.models.weights import SuiteCard

    path = suite(members, tmp_path, {"blend": 1.0}, kinds={"animation": ["video"]})
    card = SuiteCard.read(path)
    assert card.families == ("blend", "synthesis", "animation") and card.threshold == 0.5
    assert [m.logit_shift for m in card.members] == [1.0, QUIET, QUIET]
    assert card.members[2].kinds == ("video",) and card.members[0].kinds == ("image", "video")
    assert [card.weights_of(m) for m in card.members] == [members[f].resolve() for f in card.families]
    noted = card.updated(note="a note")
    noted.write(tmp_path / "noted.json")
    again = SuiteCard.read(tmp_path / "noted.json")
    assert again.get("note") == "a note" and again.sha256 == card.sha256
    assert again.to_dict() == {**json.loads(path.read_text()), "note": "a note"}
    data = json.loads(path.read_text())
    for edit, match in ((lambda d: d.update(kind="model"), "not a suite card"),
                        (lambda d: d.update(members=[]), "no members"),
                        (lambda d: d.update(threshold=2), "threshold"),
                        (lambda d: d["members"][0]["calibration"].update(logit_shift="high"), "not a number"),
                        (lambda d: [m.update(kinds=["video"]) for m in d["members"]], "no detector judges images")):
        bad = json.loads(json.dumps(data))
        edit(bad)
        with pytest.raises(WeightsError, match=match):
            SuiteCard.from_dict(bad, tmp_path)
