"""The fixed forensic features of ``residual-mlp``: co-occurrence histograms and the ring spectrum."""

import numpy as np
import torch

from forensics.models.residual_mlp import ResidualFeatures, ResidualMLP


def _pixels(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def test_flat_image_puts_every_residual_triple_in_the_zero_bin():
    features = ResidualFeatures(32)
    flat = _pixels(np.full((32, 32, 3), 128, np.uint8))
    histograms = features.cooccurrence(flat * 255.0).view(18, 125)  # 3 regions x 3 planes x 2 directions
    zero = 2 * 25 + 2 * 5 + 2  # (0, 0, 0) after shifting [-2, 2] to [0, 4]
    assert torch.allclose(histograms[:, zero], torch.ones(18))
    assert histograms.sum() == 18


def test_each_cooccurrence_histogram_is_a_distribution():
    rng = np.random.default_rng(0)
    grain = np.clip(128 + rng.normal(0, 3, (48, 48, 3)), 0, 255).round().astype(np.uint8)  # film grain
    histograms = ResidualFeatures(48).cooccurrence(_pixels(grain) * 255.0).view(18, 125) ** 2  # features are roots
    assert torch.allclose(histograms.sum(1), torch.ones(18), atol=1e-5)
    assert ((histograms[:6] > 0).sum(1) > 40).all()  # grain spreads over many of the 125 bins


def test_ring_spectrum_matches_a_numpy_reference():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ours = ResidualFeatures(64).spectrum(_pixels(image) * 255.0)[0].numpy()
    luma = image.astype(np.float64).mean(-1)
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(luma - luma.mean())))
    y, x = np.indices(luma.shape)
    radius = np.hypot(y - 32, x - 32).astype(int)
    rings = np.bincount(radius.ravel(), np.log(magnitude + 1e-3).ravel()) / np.bincount(radius.ravel())
    np.testing.assert_allclose(ours, rings[1:32], rtol=1e-4, atol=1e-4)


def test_blurring_moves_the_features_that_smoothing_changes():
    """A face swap pastes a smoother face: blur must shift mass to small residuals and cut high frequencies."""
    rng = np.random.default_rng(2)
    sharp = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    smooth = sharp.astype(np.float32)
    for _ in range(3):  # a 3x3 box blur, three times
        smooth = sum(np.roll(np.roll(smooth, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9.0
    features = ResidualFeatures(64)
    sharp_t, smooth_t = _pixels(sharp) * 255.0, _pixels(smooth.round().astype(np.uint8)) * 255.0
    zero = 2 * 25 + 2 * 5 + 2
    assert features.cooccurrence(smooth_t)[0, zero] > features.cooccurrence(sharp_t)[0, zero]
    assert features.spectrum(smooth_t)[0, -8:].mean() < features.spectrum(sharp_t)[0, -8:].mean() - 1.0


def test_only_the_classifier_trains():
    model = ResidualMLP(64)
    assert sum(p.numel() for p in model.features.parameters()) == 0
    assert model(torch.rand(4, 3, 64, 64)).shape == (4,)


def test_colour_histograms_place_pure_colours_where_they_belong():
    features = ResidualFeatures(16)
    red = _pixels(np.tile(np.array([255, 0, 0], np.uint8), (16, 16, 1))) * 255.0
    grey = _pixels(np.full((16, 16, 3), 100, np.uint8)) * 255.0
    hue, saturation, value = (features.colour(red)[0, i * 32:(i + 1) * 32] for i in range(3))
    assert hue[0] == 1 and saturation[31] == 1 and value[31] == 1  # hue 0, fully saturated, brightest
    grey_saturation, grey_cb = features.colour(grey)[0, 32:64], features.colour(grey)[0, 128:160]
    assert grey_saturation[0] == 1 and grey_cb[16] == 1  # no saturation; Cb sits at its neutral 128
    assert features.colour(red).shape == (1, 3 * (6 * 32 + 64))  # whole crop, inner face, outer ring


def test_feature_vector_joins_full_and_half_size_residuals_spectrum_and_colour():
    features = ResidualFeatures(64)
    assert features(torch.rand(2, 3, 64, 64)).shape == (2, 2 * 3 * 750 + 31 + 3 * 256) == (2, features.out_features)


def test_a_pasted_inner_face_moves_the_inner_features_and_leaves_the_outer_ring_alone():
    """What a face swap does: the middle of the crop is replaced by a smoother face, the edges are not."""
    rng = np.random.default_rng(3)
    photo = np.clip(128 + rng.normal(0, 12, (64, 64, 3)), 0, 255).round().astype(np.uint8)
    swapped = photo.copy()
    swapped[16:48, 16:48] = 128  # the inner face (central half of the side), pasted flat
    features = ResidualFeatures(64)
    before, after = (features.cooccurrence(_pixels(image) * 255.0).view(3, 6, 125) for image in (photo, swapped))
    whole, inner, ring = range(3)
    zero = 2 * 25 + 2 * 5 + 2
    assert torch.equal(before[ring], after[ring])
    assert (after[inner, :, zero] > 0.9).all() and (before[inner, :, zero] < 0.5).all()  # residuals straddle the seam
    assert (after[whole, :, zero] > before[whole, :, zero]).all()
    colour_before, colour_after = (features.colour(_pixels(image) * 255.0).view(3, 256) for image in (photo, swapped))
    assert torch.equal(colour_before[ring], colour_after[ring])
    assert not torch.equal(colour_before[inner], colour_after[inner])
