"""A download counts only once it decodes: bad files fail with a one-line reason."""

import pytest

from storage.markers import StageFailure
from tasks.validate import probe_video
from tests.support.videos import truncate, write_video


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
