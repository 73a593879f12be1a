"""A download counts only once it decodes: bad files fail with a one-line reason."""

import re

import pytest

from storage.markers import StageFailure
from tasks.validate import probe_video
from tests.support.videos import (
    CONTAINERS,
    clip_in,
    display_frames,
    rotated,
    truncate,
    with_edit_list,
    write_video,
)


def test_a_good_video_reports_its_stats(tmp_path) -> None:
    write_video(tmp_path / "v.mp4", [30, 18], fps=24)
    stats = probe_video(tmp_path / "v.mp4")
    assert stats["fps"] == 24 and (stats["width"], stats["height"]) == (160, 120)
    assert stats["num_frames"] == 48 and stats["duration_s"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p, good: p.write_bytes(b""), "empty file"),
        (lambda p, good: p.write_text("<html><body>Sign in</body></html>"), "not a video"),
        (lambda p, good: truncate(good, p, 0.6), "truncated|not a video|corrupt"),
    ],
    ids=["zero-byte", "html-named-mp4", "truncated"],
)
def test_bad_files_fail_with_a_reason(tmp_path, make, reason) -> None:
    good = tmp_path / "good.mp4"
    write_video(good, [72], fps=24)
    bad = tmp_path / "bad.mp4"
    make(bad, good)
    with pytest.raises(StageFailure, match=reason):
        probe_video(bad)


def test_too_short_videos_fail(tmp_path) -> None:
    write_video(tmp_path / "v.mp4", [12], fps=24)
    with pytest.raises(StageFailure, match="too short"):
        probe_video(tmp_path / "v.mp4", min_duration_s=1.0)


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_every_container_is_measured_from_its_decoded_frames(tmp_path, container) -> None:
    stats = probe_video(clip_in(tmp_path, container, seconds=3.0))
    assert stats["duration_s"] == pytest.approx(3.0, abs=1.5 / 24)
    assert stats["num_frames"] == 72 and stats["start_s"] == pytest.approx(0.0, abs=1e-3)


def test_an_edit_list_shortens_the_measured_length(tmp_path) -> None:
    src = clip_in(tmp_path, "mp4-h264", seconds=3.0)
    stats = probe_video(with_edit_list(src, tmp_path / "cut.mp4", skip_s=0.5))
    assert stats["duration_s"] == pytest.approx(2.5, abs=1.5 / 24) and stats["num_frames"] == 60


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_the_stored_size_is_the_displayed_size(tmp_path, degrees) -> None:
    src = clip_in(tmp_path, "mp4-h264", size=(160, 96))
    stats = probe_video(rotated(src, tmp_path / "r.mp4", degrees))
    shown = display_frames(tmp_path / "r.mp4")[0].shape[:2]
    assert (stats["height"], stats["width"]) == shown
    assert shown == ((160, 96) if degrees % 180 else (96, 160))


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_a_half_file_never_passes_for_the_whole_video(tmp_path, container) -> None:
    half = truncate(clip_in(tmp_path, container, seconds=6.0), tmp_path / f"half-{container}", 0.5)
    try:
        stats = probe_video(half)
    except StageFailure as e:
        assert re.match("truncated video: decodes|not a video", e.reason), e.reason
        return
    # MPEG-TS declares no length: a cut stream is a shorter valid one, measured as decoded
    assert container.startswith("mpegts") and stats["duration_s"] < 4.0
