"""Golden scores: every shipped weights file, and the default's scan of the sample media, give the
scores recorded in ``tests/golden_scores.json`` (see ``tests/golden.py``).

A wrong normalisation, a dropped ensemble member, a lost mirror TTA or temperature, another
crop margin: each changes these scores and fails here, where the rest of the suite only sees
scores in [0, 1]. Replacing a shipped weights file means regenerating the golden file, on
purpose, in the same commit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from golden import GOLDEN_FILE, REPO, compute_crop_scores, compute_suite_crop_scores, sample_rows

from forensics.config import DEFAULT_MODEL
from forensics.models.weights import list_shipped_cards, SuiteCard, shipped_suite, shipped_weights

CROP_TOLERANCE = 1e-4  # P(fake) of a fixed crop: the classifier alone, deterministic on a CPU
SAMPLE_TOLERANCE = 1e-3  # a whole scan: MTCNN's boxes may move by a fraction of a pixel across torch builds
GOLDEN = json.loads(GOLDEN_FILE.read_text())
REGENERATE = "if the change is deliberate, regenerate with `python tests/golden.py` and say why in the commit"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def test_every_shipped_weights_file_has_golden_scores_for_its_exact_bytes():
    shipped = {Path(card.file).stem: card.sha256 for card in list_shipped_cards()}
    assert shipped, "the repository ships weights"
    recorded = {name: entry["sha256"] for name, entry in GOLDEN["weights"].items()}
    assert recorded == shipped, f"shipped weights and golden scores disagree; {REGENERATE}"


@pytest.mark.parametrize("name", sorted(GOLDEN["weights"]))
def test_shipped_weights_give_their_golden_scores_on_fixed_crops(name):
    want = GOLDEN["weights"][name]["crops"]
    got = compute_crop_scores(shipped_weights(name))
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=0, atol=CROP_TOLERANCE,
                               err_msg=f"{name}: scores of the golden crops changed; {REGENERATE}")
    # near 0 or 1 an absolute tolerance says little: the logits must agree too
    np.testing.assert_allclose(_logit(list(got.values())), _logit(list(want.values())), rtol=0, atol=1e-3)


def test_the_default_scores_the_manipulated_crop_above_the_original():
    crops = GOLDEN["weights"][DEFAULT_MODEL]["crops"]
    assert crops["astronaut-manipulated"] > crops["astronaut"]


def test_the_shipped_suite_gives_its_golden_family_scores_on_fixed_crops():
    suite = shipped_suite()
    if suite is None:
        assert "suite" not in GOLDEN, "the golden file pins a suite that is not shipped"
        pytest.skip("no suite ships: the default is a single model")
    want = GOLDEN["suite"]
    assert want["sha256"] == SuiteCard.read(suite).sha256, f"the shipped suite card changed; {REGENERATE}"
    got = compute_suite_crop_scores(suite)
    assert list(got) == list(want["crops"])
    for crop, families in want["crops"].items():
        assert list(got[crop]) == list(families)
        np.testing.assert_allclose(list(got[crop].values()), list(families.values()), rtol=0, atol=CROP_TOLERANCE,
                                   err_msg=f"{crop}: the suite's family scores changed; {REGENERATE}")


@pytest.mark.slow
def test_scanning_the_sample_media_gives_the_readme_scores(tmp_path):
    want = GOLDEN["samples"]
    suite = shipped_suite()
    if suite is not None:
        assert (want["model"], want["sha256"]) == ("suite", SuiteCard.read(suite).sha256)
    else:
        assert want["sha256"] == GOLDEN["weights"][DEFAULT_MODEL]["sha256"]
    got = sample_rows(tmp_path)
    assert sorted(got) == sorted(want["rows"])
    for name, row in want["rows"].items():
        if row["score"] is None:
            assert got[name]["score"] is None, f"{name} has no face: it must have no score"
            continue
        for key, value in row.items():
            if isinstance(value, float):
                assert got[name][key] == pytest.approx(value, abs=SAMPLE_TOLERANCE), f"{name} {key}; {REGENERATE}"
        # discrete results exactly, unless the score sits within the tolerance of the threshold
        if abs(row["score"] - 0.5) > SAMPLE_TOLERANCE:
            assert (got[name]["verdict"], got[name]["family"]) == (row["verdict"], row["family"]), name
    readme = (REPO / "README.md").read_text()
    quoted = set(re.findall(r"\b0\.\d{3}\b", readme))
    for name, row in want["rows"].items():
        if row["score"] is not None:
            assert f"{row['score']:.3f}" in quoted, f"the README does not quote {name}'s score {row['score']:.3f}"
