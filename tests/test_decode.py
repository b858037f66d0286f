import numpy as np
import pytest
from PIL import Image

from forensics.media.decode import DecodeError, Video, sample_indices
from forensics.media.image import read_image


def test_sample_indices_evenly_spaced_over_the_whole_video():
    idx = sample_indices(300, 30.0, frames=32)
    assert len(idx) == 32 and idx[0] == 0 and idx[-1] == 299
    assert np.all(np.diff(idx) > 0)
    assert list(sample_indices(5, 30.0, frames=32)) == [0, 1, 2, 3, 4]
    assert len(sample_indices(0, 30.0)) == 0


def test_sample_indices_by_fps_with_a_cap():
    idx = sample_indices(300, 30.0, fps=2.0)
    assert list(idx[:3]) == [0, 15, 30] and len(idx) == 20
    assert len(sample_indices(100_000, 30.0, fps=30.0, max_frames=50)) == 50


def test_video_frames_decode_with_index_and_timestamp(media_dir):
    video = Video(str(media_dir / "astronaut-clip.mp4"))
    assert (video.info.width, video.info.height) == (640, 360)
    assert video.info.frame_count == 30 and video.info.fps == pytest.approx(15.0)
    assert video.info.duration_s == pytest.approx(2.0)
    idx = sample_indices(video.info.frame_count, video.info.fps, frames=8)
    chunks = list(video.frames(idx, chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 2]
    frames = [f for c in chunks for f in c]
    assert [f.index for f in frames] == idx.tolist()
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    times = [f.timestamp_s for f in frames]
    assert times[0] == pytest.approx(0.0) and all(b > a for a, b in zip(times, times[1:]))
    assert times[-1] == pytest.approx(idx[-1] / 15.0, abs=0.07)


def test_exif_orientation_is_honoured(tmp_path):
    path = tmp_path / "rotated.jpg"
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(path, exif=exif)
    frame = read_image(str(path))
    assert frame.image.shape == (40, 20, 3)
    assert frame.image[:20].mean() > 200 and frame.image[20:].mean() < 50  # white half now on top


def test_broken_files_raise_clear_decode_errors(bad_dir):
    with pytest.raises(DecodeError, match="cannot decode image"):
        read_image(str(bad_dir / "corrupt.jpg"))
    with pytest.raises(DecodeError, match="cannot open the video"):
        Video(str(bad_dir / "truncated.mp4"))
    with pytest.raises(DecodeError):
        Video(str(bad_dir / "empty.mp4"))
