"""Link faces across sampled frames into tracks (one per person) by box overlap."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torchvision.ops import box_iou


def link_tracks(boxes_per_frame: Sequence[np.ndarray], min_iou: float = 0.3) -> list[np.ndarray]:
    """Track id for every face, frame by frame.

    Each frame's faces are matched greedily, best overlap first, to the last box of every
    track seen so far (a face may reappear after frames where it was missed). A face whose
    best IoU with every unmatched track is below ``min_iou`` starts a new track.

    Args:
        boxes_per_frame: for each sampled frame in time order, an (n, 4) array of
            (x1, y1, x2, y2) boxes.
        min_iou: overlap (0..1) needed to continue a track (default 0.3).

    Returns:
        For each frame, an (n,) int array of track ids numbered from 0 in order of first
        appearance.
    """
    last_boxes: list[np.ndarray] = []
    assigned: list[np.ndarray] = []
    for boxes in boxes_per_frame:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        ids = np.full(len(boxes), -1, dtype=np.int64)
        if len(boxes) and last_boxes:
            iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(np.stack(last_boxes))).numpy()
            # greedy: best pair first, each face and each track used once
            for flat in np.argsort(-iou, axis=None):
                face, track = np.unravel_index(flat, iou.shape)
                if iou[face, track] < min_iou:
                    break
                if ids[face] == -1 and track not in ids:
                    ids[face] = track
        for face in np.flatnonzero(ids == -1):
            ids[face] = len(last_boxes)
            last_boxes.append(boxes[face])
        for face, track in enumerate(ids):
            last_boxes[track] = boxes[face]
        assigned.append(ids)
    return assigned
