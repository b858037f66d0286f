import math

import cv2
import numpy as np
import pytest

from forensics.faces.align import (
    CropPolicy,
    crop_face,
    crop_transform,
    transform_points,
)
from forensics.faces.detect import FaceDetector, resolve_device
from forensics.faces.track import link_tracks
from forensics.media.decode import Video, sample_indices


@pytest.fixture(scope="module")
def detector():
    return FaceDetector("cpu", detect_size=640)


def test_mtcnn_finds_the_astronaut_with_landmarks(detector, astronaut):
    faces = detector.detect([astronaut])[0]
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < 200 and 50 < y1 < 110 and 250 < x2 < 300 and 160 < y2 < 230
    assert face.prob > 0.99
    assert face.landmarks.shape == (5, 2)
    left_eye, right_eye = face.landmarks[0], face.landmarks[1]
    assert left_eye[0] < right_eye[0]  # image-left eye first


def test_no_face_gives_an_empty_list(detector):
    assert detector.detect([np.full((240, 320, 3), 128, np.uint8)]) == [[]]


def test_large_frames_are_detected_downscaled_and_mapped_back(astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    full = FaceDetector("cpu", detect_size=0).detect([astronaut])[0][0]
    scaled = FaceDetector("cpu", detect_size=640).detect([big])[0][0]
    np.testing.assert_allclose(scaled.box, full.box * 4, atol=4 * 6)
    np.testing.assert_allclose(scaled.landmarks, full.landmarks * 4, atol=4 * 5)


def test_tiny_and_improbable_faces_are_dropped(astronaut):
    assert FaceDetector("cpu", min_face_px=400).detect([astronaut]) == [[]]


def test_auto_device_is_cpu_without_gpu():
    import torch

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")


def test_crop_levels_the_eyes_of_a_tilted_face(detector, astronaut):
    h, w = astronaut.shape[:2]
    tilted = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h))
    face = detector.detect([tilted])[0][0]
    eyes = face.landmarks[:2]
    assert abs(math.degrees(math.atan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0]))) > 12
    policy = CropPolicy(size=224, margin=0.2)
    crop = crop_face(tilted, face.box, face.landmarks, policy)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    # the crop's own landmarks, found again by MTCNN, have level eyes
    again = detector.detect([crop])[0][0].landmarks
    assert abs(math.degrees(math.atan2(again[1, 1] - again[0, 1], again[1, 0] - again[0, 0]))) < 4
    moved = transform_points(eyes, crop_transform(face.box, face.landmarks, policy))
    assert abs(moved[0, 1] - moved[1, 1]) < 1e-3


def test_margin_enlarges_the_square_box(astronaut, detector):
    face = detector.detect([astronaut])[0][0]
    tight = crop_transform(face.box, None, CropPolicy(size=100, margin=0.0, align=False))
    loose = crop_transform(face.box, None, CropPolicy(size=100, margin=0.5, align=False))
    side = max(face.box[2] - face.box[0], face.box[3] - face.box[1])
    assert tight[0, 0] == pytest.approx(100 / side)
    assert loose[0, 0] == pytest.approx(100 / (2 * side))


def test_tracks_link_faces_by_overlap():
    a = np.array([[10, 10, 50, 50]], np.float32)
    b = np.array([[200, 10, 240, 50]], np.float32)
    frames = [np.concatenate([a, b]), np.concatenate([b + 3, a + 2]), a + 4, np.concatenate([b + 5, a + 6])]
    ids = link_tracks(frames, min_iou=0.3)
    assert [x.tolist() for x in ids] == [[0, 1], [1, 0], [0], [1, 0]]
    assert len(link_tracks([np.zeros((0, 4))])[0]) == 0


def test_a_video_of_two_people_yields_two_tracks(detector, media_dir):
    video = Video(str(media_dir / "two-people-one-manipulated.mp4"))
    idx = sample_indices(video.info.frame_count, video.info.fps, frames=8)
    boxes = []
    for chunk in video.frames(idx):
        for found in detector.detect([f.image for f in chunk]):
            boxes.append(np.array([d.box for d in found]).reshape(-1, 4))
    ids = np.concatenate(link_tracks(boxes))
    assert sorted(set(ids.tolist())) == [0, 1]
    assert min(np.bincount(ids)) >= 6


def test_tracks_follow_a_face_that_moved_more_than_it_overlaps():
    a = np.array([[100, 100, 140, 140]], np.float32)
    frames = [a, a + [30, 0, 30, 0], a + [60, 0, 60, 0]]  # IoU 0.14 between steps
    assert [x.tolist() for x in link_tracks(frames)] == [[0], [0], [0]]
    far = [a, a + [200, 0, 200, 0]]
    assert [x.tolist() for x in link_tracks(far)] == [[0], [1]]
    bigger = [a, np.array([[90, 90, 190, 190]], np.float32)]  # much larger box: another face
    assert [x.tolist() for x in link_tracks(bigger, min_iou=0.5)] == [[0], [1]]


def test_two_faces_walking_past_each_other_keep_their_tracks():
    # A walks right, B walks left along nearly the same line, 30 px per sampled frame (40 px
    # faces); at step 3 A hides B. At step 4, A stands where B was last seen: only B's speed
    # says that the face there is A
    a = np.array([0, 100, 40, 140], np.float32)
    b = np.array([180, 104, 220, 144], np.float32)
    step = np.array([30, 0, 30, 0], np.float32)
    frames = [np.stack([a + k * step, b - k * step]) for k in range(7)]
    frames[3] = frames[3][:1]
    ids = link_tracks(frames)
    assert [x.tolist() for x in ids] == [[0, 1], [0, 1], [0, 1], [0], [0, 1], [0, 1], [0, 1]]
    # listed in the other order in some frames: the ids follow the boxes, not the order
    frames[4], frames[6] = frames[4][::-1].copy(), frames[6][::-1].copy()
    assert [x.tolist() for x in link_tracks(frames)] == [[0, 1], [0, 1], [0, 1], [0], [1, 0], [0, 1], [1, 0]]


def test_candidates_are_resampled_as_torch_area_interpolation_does():
    import torch
    from torch.nn.functional import interpolate

    from forensics.faces.mtcnn import resample_boxes, summed_area

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 90, 130, 3), dtype=np.uint8)
    table = summed_area(images, torch.device("cpu"))
    # boxes larger and smaller than the output (a shrink and an enlargement), at the borders too
    boxes = np.array([[0, 90, 0, 130, 0], [5, 37, 12, 29, 1], [60, 90, 3, 130, 1], [1, 70, 40, 41, 0]])
    y0, y1, x0, x1, which = (torch.as_tensor(c, dtype=torch.int64) for c in boxes.T)
    got = resample_boxes(table, which, y0, y1, x0, x1, 24)
    pixels = torch.as_tensor(images).permute(0, 3, 1, 2).float()
    for k, (a, b, c, d, i) in enumerate(boxes):
        expected = interpolate(pixels[i : i + 1, :, a:b, c:d], size=(24, 24), mode="area")[0]
        torch.testing.assert_close(got[k], expected, atol=1e-4, rtol=0)


def test_detection_matches_facenet_pytorchs_own_mtcnn(astronaut, tmp_path):
    """The batched candidate resampling changes no face: same boxes, probabilities and landmarks
    as facenet-pytorch's MTCNN.detect on a still, a group and a clip's frames."""
    from facenet_pytorch import MTCNN
    from samples import grace_hopper, write_clip

    reference = MTCNN(min_face_size=20, keep_all=True, post_process=False, device="cpu")
    group = np.concatenate([astronaut, cv2.resize(grace_hopper(), astronaut.shape[1::-1])], axis=1)
    clip = Video(str(write_clip(tmp_path / "clip.mp4", [astronaut], seconds=1.0, fps=10.0, size=(480, 270),
                                face_height=200)))
    frames = [f.image for chunk in clip.frames(sample_indices(clip.info.frame_count, clip.info.fps, 6), 6) for f in chunk]
    batches = [[astronaut], [group], [astronaut, cv2.flip(astronaut, 1), np.full_like(astronaut, 128)], frames]
    for batch in batches:
        ours = FaceDetector("cpu", detect_size=0, min_prob=0.0, min_face_px=0).detect(batch)
        boxes, probs, points = reference.detect(np.stack(batch), landmarks=True)
        for found, b, p, pts in zip(ours, boxes, probs, points):
            if b is None:
                assert found == []
                continue
            assert len(found) == len(b)
            np.testing.assert_allclose(np.stack([d.box for d in found]), np.array(b, dtype=np.float64), atol=1e-3)
            np.testing.assert_allclose([d.prob for d in found], np.array(p, dtype=np.float64), atol=1e-5)
            np.testing.assert_allclose(np.stack([d.landmarks for d in found]), np.array(pts, dtype=np.float64), atol=1e-3)
    assert sum(len(f) for f in FaceDetector("cpu", detect_size=0).detect([group])) == 2
