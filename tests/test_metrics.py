"""Worked examples for the metrics behind every published table: ECE, EER, AP, temperature fitting.

Each expected figure is computed by hand in the comment beside it, so that an off-by-one bin,
a swapped rate or a temperature applied the wrong way fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from forensics.train.calibrate import fit_temperature
from forensics.train.metrics import (
    binary_metrics,
    equal_error_rate,
    expected_calibration_error,
)


def test_ece_worked_example():
    # confidence = max(p, 1 - p), 10 bins of width 0.05 over [0.5, 1]:
    #   0.92, 0.92 -> bin [0.90, 0.95): one right, one wrong: |0.5 - 0.92| x 2/5 = 0.168
    #   0.83       -> bin [0.80, 0.85): right:                 |1 - 0.83|   x 1/5 = 0.034
    #   0.61       -> bin [0.60, 0.65): right:                 |1 - 0.61|   x 1/5 = 0.078
    #   0.57       -> bin [0.55, 0.60): wrong:                 |0 - 0.57|   x 1/5 = 0.114
    labels = np.array([1, 0, 0, 1, 0])
    scores = np.array([0.92, 0.92, 0.17, 0.61, 0.57])
    assert expected_calibration_error(labels, scores) == pytest.approx(0.168 + 0.034 + 0.078 + 0.114)


@pytest.mark.parametrize("wrong, right, ece", [
    (0.58, 0.52, 0.53),  # bins [0.55, 0.60) and [0.50, 0.55): |0 - 0.58| / 2 + |1 - 0.52| / 2
    (0.89, 0.91, 0.49),  # bins [0.85, 0.90) and [0.90, 0.95): |0 - 0.89| / 2 + |1 - 0.91| / 2
    (0.93, 0.97, 0.48),  # bins [0.90, 0.95) and [0.95, 1.00]: |0 - 0.93| / 2 + |1 - 0.97| / 2
])
def test_ece_keeps_neighbouring_bins_apart(wrong, right, ece):
    # a fake called real at confidence `wrong`, a fake called fake at confidence `right`: in
    # neighbouring bins (the lowest, middle and highest pairs), never merged
    labels, scores = np.array([1, 1]), np.array([1 - wrong, right])
    assert expected_calibration_error(labels, scores) == pytest.approx(ece)
    # with a single bin over [0.5, 1] they are together: |1/2 - mean confidence|
    assert expected_calibration_error(labels, scores, bins=1) == pytest.approx(abs(0.5 - (wrong + right) / 2))


def test_ece_is_zero_when_confidence_is_the_accuracy():
    # four predictions at confidence 0.75, three of them right; on both sides of 0.5
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    scores = np.array([0.75, 0.75, 0.75, 0.75, 0.25, 0.25, 0.25, 0.25])
    assert expected_calibration_error(labels, scores) == pytest.approx(0.0, abs=1e-12)


def test_eer_worked_example():
    # reals 0.1 0.2 0.3 0.6, fakes 0.4 0.7 0.8 0.9: at threshold 0.6 one real of four is called
    # fake (FPR 1/4) and one fake of four is called real (FNR 1/4): EER = 0.25
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    assert equal_error_rate(labels, scores) == pytest.approx(0.25)
    assert equal_error_rate(labels, 1 - scores) == pytest.approx(0.75)  # a model that has it backwards
    assert equal_error_rate(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0


def test_average_precision_and_auc_worked_example():
    # ranked 0.9 (fake), 0.8 (real), 0.7 (fake): precision 1 at recall 1/2, 2/3 at recall 1:
    #   AP = 1/2 x 1 + 1/2 x 2/3 = 5/6; of the two (fake, real) pairs, (0.9, 0.8) is ordered
    #   right and (0.7, 0.8) wrong: AUC = 1/2
    m = binary_metrics([1, 0, 1], [0.9, 0.8, 0.7])
    assert m["average_precision"] == pytest.approx(5 / 6)
    assert m["roc_auc"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[0, 1], [0, 2]] and m["precision"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_that_made_the_labels(temperature):
    # labels drawn from sigmoid(z / T): the log loss is smallest at T, and 40,000 draws pin it
    rng = np.random.default_rng(7)
    logits = rng.normal(0.0, 4.0, 40_000)
    labels = (rng.random(logits.size) < 1 / (1 + np.exp(-logits / temperature))).astype(np.float64)
    assert fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)
