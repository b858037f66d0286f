import numpy as np

from forensics.manipulate import BlendParams, blend_face, face_mask


def test_blend_changes_the_face_and_leaves_the_rest(astronaut):
    box = np.array([180, 80, 280, 200], np.float32)
    fake = blend_face(astronaut, box)
    diff = np.abs(fake.astype(int) - astronaut.astype(int)).sum(axis=2)
    assert diff[110:180, 200:260].mean() > 10  # inside the face
    assert diff[300:, :].max() == 0 and diff[:, 400:].max() == 0  # far away: untouched
    assert fake.shape == astronaut.shape and fake.dtype == np.uint8


def test_mask_is_soft_and_bounded():
    mask = face_mask((100, 100), np.array([30, 30, 70, 70]), blur=0.1)
    assert mask.max() <= 1.0 and mask.min() >= 0.0
    assert 0.0 < mask[50, 32] < 1.0  # a soft edge
    params = BlendParams.random(np.random.default_rng(0))
    assert 0.5 <= params.opacity <= 1.0
