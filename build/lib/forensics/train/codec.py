"""A face crop as it comes out of a video codec: what a clip's frames go through before a scan.

Face swaps mostly reach a scanner as H.264 video (DFDC, FaceForensics++ and social-media
uploads alike). Its 4x4 integer transform, its deblocking filter and 4:2:0 chroma leave other
traces than JPEG's 8x8 DCT, so training on JPEG alone does not prepare a model for video.
"""

from __future__ import annotations

import numpy as np


def h264_keyframe(crop: np.ndarray, crf: int = 28, preset: str = "veryfast") -> np.ndarray:
    """Encode an (H, W, 3) ``uint8`` RGB crop as the keyframe of an H.264 stream and decode it back.

    Args:
        crop: the image; odd sides are padded by repeating the edge (4:2:0 needs even sides)
            and cropped back after decoding.
        crf: libx264 constant rate factor, 0 (lossless) to 51 (worst); default 28, where
            web video sits (FaceForensics++ ships c23 and c40). Each step up of 6 about
            halves the bitrate.
        preset: libx264 speed preset (default ``veryfast``).

    Returns:
        The decoded (H, W, 3) ``uint8`` RGB image.
    """
    import av  # PyAV: FFmpeg with libx264 in its wheels

    height, width = crop.shape[:2]
    frame = np.pad(crop, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
    encoder.options = {"crf": str(crf), "preset": preset}
    packets = encoder.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"))
    packets += encoder.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    decoded = [image for packet in packets for image in decoder.decode(packet)] + list(decoder.decode(None))
    if not decoded:
        raise RuntimeError("libx264 produced no frame for the crop")
    return decoded[0].to_ndarray(format="rgb24")[:height, :width]
