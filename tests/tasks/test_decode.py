"""Decoding in display orientation, frames numbered by their timestamps in every container."""

import numpy as np
import pytest

from tasks.decode import decode_frames
from tests.support.videos import CONTAINERS, clip_in, display_frames, rotated


def _close(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_frames_come_out_as_ffmpeg_displays_them(tmp_path, degrees) -> None:
    src = clip_in(tmp_path, "mp4-h264", size=(160, 96))
    video = rotated(src, tmp_path / "r.mp4", degrees)
    shown = display_frames(video)
    got = decode_frames(video, np.array([3, 40]), fps=24)
    for k in (3, 40):
        assert got[k].shape == shown[k].shape
        assert _close(got[k], shown[k]) < 1.0  # same decoder, same pixels: only rounding


@pytest.mark.parametrize("container", [c for c in CONTAINERS if c != "mp4-h264"])
def test_frame_numbers_mean_the_same_frame_in_every_container(tmp_path, container) -> None:
    reference = display_frames(clip_in(tmp_path, "mp4-h264"))
    got = decode_frames(clip_in(tmp_path, container), np.array([5, 30, 71]), fps=24)
    assert sorted(got) == [5, 30, 71]
    for k in (5, 30, 71):
        # testsrc2 moves every frame: frame k matches reference k better than its neighbours
        errs = [_close(got[k], reference[j]) for j in (k - 1, k, min(k + 1, 71))]
        assert errs[1] == min(errs), (k, errs)
