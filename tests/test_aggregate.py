import numpy as np
import pytest

from forensics.aggregate import confident_score, media_score, track_score, verdict


def test_strategies():
    scores = [0.1, 0.2, 0.9, 0.3, 0.95]
    assert track_score(scores, "mean") == pytest.approx(np.mean(scores))
    assert track_score(scores, "max") == pytest.approx(0.95)
    assert track_score(scores, "topk", topk=2) == pytest.approx(0.925)
    with pytest.raises(ValueError):
        track_score(scores, "median")


def test_confident_strategy_follows_the_dfdc_rule():
    many_fake = [0.9] * 15 + [0.1] * 17  # 15 > 32 / 2.5
    assert confident_score(np.array(many_fake)) == pytest.approx(0.9)
    few_fake = [0.9] * 5 + [0.3] * 27
    assert confident_score(np.array(few_fake)) == pytest.approx(np.mean(few_fake))
    clearly_real = [0.05] * 30 + [0.5, 0.6]
    assert confident_score(np.array(clearly_real)) == pytest.approx(0.05)


def test_one_fake_track_among_real_ones_makes_the_media_fake():
    scores = np.array([0.1, 0.9, 0.15, 0.85, 0.1, 0.95])
    tracks = np.array([0, 1, 0, 1, 0, 1])
    score, per_track = media_score(scores, tracks, "mean")
    assert per_track[0] == pytest.approx(0.1167, abs=1e-3)
    assert score == pytest.approx(0.9)
    assert verdict(score, 0.5) == "fake"


def test_short_tracks_do_not_decide_when_long_ones_exist():
    scores = np.array([0.1, 0.1, 0.1, 0.99])
    tracks = np.array([0, 0, 0, 1])
    assert media_score(scores, tracks, "mean", min_track_faces=2)[0] == pytest.approx(0.1)
    assert media_score(scores, tracks, "mean", min_track_faces=1)[0] == pytest.approx(0.99)
    # only short tracks: they count
    assert media_score(np.array([0.7]), np.array([0]), "mean", min_track_faces=2)[0] == pytest.approx(0.7)


def test_no_faces_means_no_score():
    assert media_score(np.zeros(0), np.zeros(0)) == (None, {})
    assert verdict(None) is None
    assert verdict(0.5, 0.5) == "fake" and verdict(0.49, 0.5) == "real"
