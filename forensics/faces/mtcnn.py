"""MTCNN's three-stage search, as facenet-pytorch runs it, with the candidates resampled in one pass.

facenet-pytorch's ``detect_face`` shrinks every candidate box to 24x24 (second stage) and
48x48 (third stage) one at a time, an area average over the box's pixels each: on a video
frame with a large face that is ~90 candidates of ~300x300 pixels per frame, about a quarter
of the detection time. :func:`resample_boxes` gives the same area averages for all candidates
at once from each frame's summed-area table (the same bins as ``torch``'s area interpolation,
exact in float64, so the networks see the same inputs). The rest of :func:`detect_face` is
facenet-pytorch 2.5.3's (MIT licence, Copyright (c) 2019 Timothy Esler), with its own helpers.

:func:`follow_faces` runs the last stage (O-net) alone on faces already found, to follow them
into the next sampled frame of a video without searching it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from facenet_pytorch.models.utils.detect_face import (
    batched_nms,
    batched_nms_numpy,
    bbreg,
    fixed_batch_process,
    generateBoundingBox,
    imresample,
    pad,
    rerec,
)
from torch import nn


def summed_area(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(n, H, W, C) ``uint8`` -> (n, H + 1, W + 1, C) float64 table: ``t[:, y, x]`` sums ``images[:, :y, :x]``."""
    return torch.as_tensor(np.stack([cv2.integral(image, sdepth=cv2.CV_64F) for image in images]), device=device)


def _bins(start: torch.Tensor, length: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per box, the ``size`` area-average bins over ``length`` pixels from ``start``: (k, size) first, end."""
    i = torch.arange(size, device=start.device)
    first = start[:, None] + torch.div(i[None] * length[:, None], size, rounding_mode="floor")
    end = start[:, None] + torch.div((i[None] + 1) * length[:, None] + size - 1, size, rounding_mode="floor")
    return first, end


def resample_boxes(table: torch.Tensor, image_inds: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor,
                   x0: torch.Tensor, x1: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average each box ``[y0, y1) x [x0, x1)`` of image ``image_inds`` to ``size`` x ``size``.

    Args:
        table: :func:`summed_area` of the images, (n, H + 1, W + 1, C).
        image_inds, y0, y1, x0, x1: (k,) int64 per box, in pixels (end exclusive, inside the image).
        size: output side in pixels.

    Returns:
        (k, C, size, size) float32, what ``interpolate(box, (size, size), mode="area")`` gives.
    """
    r0, r1 = _bins(y0, y1 - y0, size)
    c0, c1 = _bins(x0, x1 - x0, size)
    _, rows_, cols_, channels = table.shape
    flat = table.reshape(-1, channels)
    base = image_inds[:, None, None] * (rows_ * cols_)

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:  # (k, C, size, size)
        at = base + rows[:, :, None] * cols_ + cols[:, None, :]
        return flat.index_select(0, at.reshape(-1)).reshape(*at.shape, channels).permute(0, 3, 1, 2)

    sums = corner(r1, c1) - corner(r0, c1) - corner(r1, c0) + corner(r0, c0)
    area = ((r1 - r0)[:, :, None] * (c1 - c0)[:, None, :])[:, None].double()
    return (sums / area).float()


def _stage_input(table: torch.Tensor, boxes: torch.Tensor, image_inds: torch.Tensor, w: int, h: int,
                 size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidates' crops at ``size``, normalised as MTCNN expects, and which candidates they are."""
    y, ey, x, ex = (torch.as_tensor(v, dtype=torch.int64, device=table.device) for v in pad(boxes, w, h))
    keep = (ey > y - 1) & (ex > x - 1)  # facenet-pytorch skips empty boxes
    crops = resample_boxes(table, image_inds[keep].long(), y[keep] - 1, ey[keep], x[keep] - 1, ex[keep], size)
    return (crops - 127.5) * 0.0078125, keep


def _refine(table: torch.Tensor, boxes: torch.Tensor, image_inds: torch.Tensor, w: int, h: int, size: int,
            net: nn.Module, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One refining stage (R-net at 24 px, O-net at 48 px): the candidates that pass ``threshold``
    with their new scores, their image indices, box regressions and landmarks ((10, k), O-net's
    only; None for R-net)."""
    im_data, keep = _stage_input(table, boxes, image_inds, w, h, size)
    boxes, image_inds = boxes[keep], image_inds[keep]
    out = [o.permute(1, 0) for o in fixed_batch_process(im_data, net)]
    score = out[-1][1, :]
    ipass = score > threshold
    boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
    landmarks = out[1][:, ipass] if len(out) == 3 else None
    return boxes, image_inds[ipass], out[0][:, ipass].permute(1, 0), landmarks


def _landmarks(boxes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """O-net's landmarks (10, k), relative to its input boxes (k, 4+), as pixels (k, 5, 2)."""
    w_i = boxes[:, 2] - boxes[:, 0] + 1
    h_i = boxes[:, 3] - boxes[:, 1] + 1
    points_x = w_i.repeat(5, 1) * points[:5, :] + boxes[:, 0].repeat(5, 1) - 1
    points_y = h_i.repeat(5, 1) * points[5:10, :] + boxes[:, 1].repeat(5, 1) - 1
    return torch.stack((points_x, points_y)).permute(2, 1, 0)


def _pnet_candidates(imgs: torch.Tensor, scales: list[float], pnet: nn.Module, threshold: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """First stage: P-net over the image pyramid of ``imgs`` (n, 3, H, W) float; the candidate
    boxes (k, 5: x1, y1, x2, y2, probability; squared) and the frame each is in."""
    h, w = imgs.shape[2:4]
    boxes, image_inds, scale_picks = [], [], []
    offset = 0
    for scale in scales:
        im_data = imresample(imgs, (int(h * scale + 1), int(w * scale + 1)))
        im_data = (im_data - 127.5) * 0.0078125
        reg, probs = pnet(im_data)
        boxes_scale, image_inds_scale = generateBoundingBox(reg, probs[:, 1], scale, threshold)
        boxes.append(boxes_scale)
        image_inds.append(image_inds_scale)
        pick = batched_nms(boxes_scale[:, :4], boxes_scale[:, 4], image_inds_scale, 0.5)
        scale_picks.append(pick + offset)
        offset += boxes_scale.shape[0]

    boxes = torch.cat(boxes, dim=0)
    image_inds = torch.cat(image_inds, dim=0)
    scale_picks = torch.cat(scale_picks, dim=0)
    boxes, image_inds = boxes[scale_picks], image_inds[scale_picks]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes, image_inds = boxes[pick], image_inds[pick]

    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    qq1 = boxes[:, 0] + boxes[:, 5] * regw
    qq2 = boxes[:, 1] + boxes[:, 6] * regh
    qq3 = boxes[:, 2] + boxes[:, 7] * regw
    qq4 = boxes[:, 3] + boxes[:, 8] * regh
    boxes = torch.stack([qq1, qq2, qq3, qq4, boxes[:, 4]]).permute(1, 0)
    return rerec(boxes), image_inds


def detect_face(images: np.ndarray, minsize: int, pnet: nn.Module, rnet: nn.Module, onet: nn.Module,
                threshold: list[float], factor: float, device: torch.device) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """facenet-pytorch's ``detect_face`` for a batch of same-size RGB frames (n, H, W, 3) ``uint8``.

    Returns:
        per frame, its boxes (k, 9: x1, y1, x2, y2, probability, then the square window O-net
        looked at, x1, y1, x2, y2) and landmarks (k, 5, 2), float32.
    """
    images = np.ascontiguousarray(images)
    imgs = torch.as_tensor(images, device=device).permute(0, 3, 1, 2).float()
    batch_size = len(imgs)
    h, w = imgs.shape[2:4]
    m = 12.0 / minsize
    minl = min(h, w) * m

    scales = []
    scale_i = m
    while minl >= 12:
        scales.append(scale_i)
        scale_i = scale_i * factor
        minl = minl * factor
    if not scales:  # the smallest face asked for is larger than the frame
        return [np.zeros((0, 9), np.float32)] * batch_size, [np.zeros((0, 5, 2), np.float32)] * batch_size

    boxes, image_inds = _pnet_candidates(imgs, scales, pnet, threshold[0])
    table = summed_area(images, imgs.device) if len(boxes) > 0 else None

    # Second stage: R-net on 24x24 crops of the candidates
    if len(boxes) > 0:
        boxes, image_inds, mv, _ = _refine(table, boxes, image_inds, w, h, 24, rnet, threshold[1])
        pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        boxes, image_inds, mv = boxes[pick], image_inds[pick], mv[pick]
        boxes = bbreg(boxes, mv)
        boxes = rerec(boxes)

    # Third stage: O-net on 48x48 crops, with landmarks
    points = torch.zeros(0, 5, 2, device=device)
    if len(boxes) > 0:
        boxes, image_inds, mv, points = _refine(table, boxes, image_inds, w, h, 48, onet, threshold[2])
        points = _landmarks(boxes, points)
        windows = boxes[:, :4].clone()
        boxes = torch.cat((bbreg(boxes, mv), windows), dim=1)
        pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], image_inds, 0.7, "Min")
        boxes, image_inds, points = boxes[pick], image_inds[pick], points[pick]
    else:
        boxes = torch.zeros(0, 9, device=device)

    boxes = boxes.cpu().numpy()
    points = points.cpu().numpy()
    image_inds = image_inds.cpu().numpy()
    return ([boxes[image_inds == b].copy() for b in range(batch_size)],
            [points[image_inds == b].copy() for b in range(batch_size)])


def _move(windows: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """``windows`` moved and scaled as each face moved from box ``before`` to box ``after`` (k, 4 each)."""
    def centre_side(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (b[:, :2] + b[:, 2:4]) / 2, ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1]))[:, None] / 2

    (cb, sb), (ca, sa), (cw, sw) = centre_side(before), centre_side(after), centre_side(windows)
    zoom = sa / sb
    centre, half = ca + (cw - cb) * zoom, sw * zoom / 2
    return torch.cat((centre - half, centre + half), dim=1)


def follow_faces(image: np.ndarray, boxes: np.ndarray, onet: nn.Module, threshold: float, device: torch.device,
                 rounds: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN's last stage alone on known faces: where are they in this RGB frame (H, W, 3) ``uint8``?

    Each known face is a row of ``boxes`` (k, 9) as :func:`detect_face` gives them, in this
    frame's pixels: its box in a nearby frame and the square window O-net looked at there. O-net
    looks at that window again in this frame; where the face has moved, the window is moved and
    scaled as its box did, and O-net looks again (``rounds`` looks in all, default 2). O-net's
    output never becomes its input: regressions fed back on themselves drift (70 px over 7 frames
    on a face cut by the frame's edge). A face whose probability falls to ``threshold`` or below is
    dropped: it is lost. P-net's image pyramid and R-net, most of a search's cost, are not run.

    Returns:
        the faces' boxes (m, 9) and landmarks (m, 5, 2), float32, m <= k, as :func:`detect_face`.
    """
    h, w = image.shape[:2]
    table = summed_area(image[None], device)
    known = torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 9), device=device)
    found, points = [torch.zeros(0, 9, device=device)], [torch.zeros(0, 5, 2, device=device)]
    for face in known:  # one at a time: a face's box does not depend on the others' (batch numerics)
        before, window = face[None, :4], face[None, 5:9]
        box = marks = None  # O-net's last answer: (1, 9) box and (1, 5, 2) landmarks, or (0, ...): lost
        for _ in range(rounds):
            if box is not None:  # look again with the window moved as the face moved
                window, before = _move(window, before, box[:, :4]), box[:, :4]
            candidate = torch.cat((window, torch.ones(1, 1, device=device)), dim=1)
            box, _, mv, marks = _refine(table, candidate, torch.zeros(1, dtype=torch.int64, device=device),
                                        w, h, 48, onet, threshold)
            if not len(box):
                break
            window = box[:, :4].clone()
            marks = _landmarks(box, marks)
            box = torch.cat((bbreg(box, mv), window), dim=1)
        if box is not None and len(box):
            found.append(box)
            points.append(marks)
    found, points = torch.cat(found), torch.cat(points)
    image_inds = torch.zeros(len(found), dtype=torch.int64, device=device)
    if len(found) > 1:  # two known faces that O-net moved onto one face are one face
        pick = batched_nms_numpy(found[:, :4], found[:, 4], image_inds, 0.7, "Min")
        found, points = found[pick], points[pick]
    return found.cpu().numpy().reshape(-1, 9), points.cpu().numpy().reshape(-1, 5, 2)
