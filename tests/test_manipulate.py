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


def test_face_swap_puts_the_other_face_on_the_head(astronaut):
    """Grace Hopper's face on the astronaut: the inner face is hers (aligned to the astronaut's
    landmarks), the hair, suit and background stay the astronaut's."""
    from samples import face_swapped, find_landmarks, grace_hopper

    from forensics.faces.detect import FaceDetector
    from forensics.manipulate import face_outline, hull_mask

    swapped = face_swapped()
    target = find_landmarks(astronaut)
    found = FaceDetector("cpu", detect_size=0).detect([swapped])[0]
    offsets = np.abs(found[0].landmarks - target)  # a similarity fits the eyes; mouths differ in shape
    assert len(found) == 1 and offsets[:2].max() < 3 and offsets.max() < 10
    inside = hull_mask(astronaut.shape[:2], face_outline(target, kind="inner")) > 0
    diff = np.abs(swapped.astype(int) - astronaut.astype(int)).sum(axis=2)
    assert diff[inside].mean() > 30 and diff[400:].max() == 0 and diff[:, 420:].max() == 0
    # the swapped-in face is Hopper's: her features aligned onto the astronaut's face match it
    # better than the astronaut's own face does
    import cv2

    hopper = grace_hopper()
    matrix, _ = cv2.estimateAffinePartial2D(find_landmarks(hopper), target)
    aligned = cv2.warpAffine(hopper, matrix, astronaut.shape[1::-1]).astype(float)
    grey = lambda a: a.mean(axis=2)[inside]  # noqa: E731
    corr_hopper = np.corrcoef(grey(swapped.astype(float)), grey(aligned))[0, 1]
    corr_astronaut = np.corrcoef(grey(swapped.astype(float)), grey(astronaut.astype(float)))[0, 1]
    assert corr_hopper > 0.8 > corr_astronaut, (corr_hopper, corr_astronaut)
