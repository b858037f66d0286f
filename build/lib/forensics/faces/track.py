"""Link faces across sampled frames into tracks (one per person) by box overlap.

Sampled frames can be a third of a second apart, so a moving face may overlap its previous
box only a little: pairs below the IoU threshold may still link when the centres are close
(within ``max_shift`` of the box side) and the sizes alike. Overlap always wins over distance.
Faces are compared with where each track predicts its face to be: its last box moved on at
its last speed (sampled frames are evenly spaced), so that two people who walk past each
other keep their own tracks, even when one hides the other for a moment.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torchvision.ops import box_iou


def _affinity(boxes: np.ndarray, previous: np.ndarray, min_iou: float, max_shift: float) -> np.ndarray:
    """Pair scores (faces x tracks): IoU where >= min_iou, else a smaller score for near centres, else 0."""
    iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(previous)).numpy()
    centres = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2 - (previous[None, :, :2] + previous[None, :, 2:]) / 2
    sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    prev_sides = np.sqrt((previous[:, 2] - previous[:, 0]) * (previous[:, 3] - previous[:, 1]))
    mean_side = np.maximum((sides[:, None] + prev_sides[None, :]) / 2, 1e-6)
    shift = np.linalg.norm(centres, axis=2) / mean_side
    ratio = sides[:, None] / np.maximum(prev_sides[None, :], 1e-6)
    near = (shift < max_shift) & (ratio > 2 / 3) & (ratio < 3 / 2)
    return np.where(iou >= min_iou, iou, np.where(near, min_iou * 0.99 * (1 - shift / max_shift), 0.0))


def link_tracks(boxes_per_frame: Sequence[np.ndarray], min_iou: float = 0.3, max_shift: float = 1.5) -> list[np.ndarray]:
    """Track id for every face, frame by frame.

    Each frame's faces are matched greedily, best pair first, to every track seen so far (a
    face may reappear after frames where it was missed), by their affinity to the track's last
    box moved on at the track's last speed; a face that matches no free track starts a new one.

    Args:
        boxes_per_frame: for each sampled frame in time order, an (n, 4) array of
            (x1, y1, x2, y2) boxes.
        min_iou: overlap (0..1) that links a face to a track (default 0.3).
        max_shift: without that overlap, the largest centre distance, in box sides, that
            still links faces of similar size (default 1.5).

    Returns:
        For each frame, an (n,) int array of track ids numbered from 0 in order of first
        appearance.
    """
    last_boxes: list[np.ndarray] = []
    velocity: list[np.ndarray] = []  # centre shift (dx, dy, dx, dy) per sampled frame, from the last two sightings
    last_step: list[int] = []
    assigned: list[np.ndarray] = []
    for step, boxes in enumerate(boxes_per_frame):
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        ids = np.full(len(boxes), -1, dtype=np.int64)
        if len(boxes) and last_boxes:
            predicted = np.stack(last_boxes) + np.stack(velocity) * (step - np.array(last_step, np.float32))[:, None]
            score = _affinity(boxes, predicted, min_iou, max_shift)
            taken: set[int] = set()
            for flat in np.argsort(-score, axis=None):
                face, track = np.unravel_index(flat, score.shape)
                if score[face, track] <= 0:
                    break
                if ids[face] == -1 and track not in taken:
                    ids[face] = track
                    taken.add(int(track))
        for face in np.flatnonzero(ids == -1):
            ids[face] = len(last_boxes)
            last_boxes.append(boxes[face])
            velocity.append(np.zeros(4, np.float32))
            last_step.append(step)
        for face, track in enumerate(ids):
            if last_step[track] < step:
                shift = ((boxes[face, :2] + boxes[face, 2:]) - (last_boxes[track][:2] + last_boxes[track][2:])) / 2
                velocity[track] = np.tile(shift, 2) / (step - last_step[track])
            last_boxes[track], last_step[track] = boxes[face], step
        assigned.append(ids)
    return assigned
