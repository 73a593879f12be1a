"""download stage: a local video file is a source like a URL (README: "or a local video file")."""

from __future__ import annotations

from storage.config import Config
from storage.layout import DataRoot
from storage.markers import read_marker
from tasks import download
from tasks.sources import expand_source
from tests.support.videos import truncate, write_video


def test_a_local_video_file_is_copied_in_validated_and_recorded(root: DataRoot, tmp_path) -> None:
    src = tmp_path / "walkthrough.mp4"
    write_video(src, [48])
    (source,) = expand_source(str(src), Config().download)
    m = download.run(root, Config(), source)
    assert m.status == "ok", m.reason
    assert root.video_file(source.video_id).read_bytes() == src.read_bytes()
    assert (m.stats["width"], m.stats["height"], m.stats["fps"]) == (160, 120, 24)
    assert m.stats["duration_s"] == 2.0  # 48 frames at 24 fps, decoded to the end
    assert download.read_source(root, source.video_id) == source  # a re-run needs only the data
    assert src.exists()  # the user's file is copied, never moved
    again = download.run(root, Config(), source)  # done: the marker is not rewritten
    assert again.finished_at == m.finished_at
    assert read_marker(root.video_marker(source.video_id, "download")) == again


def test_a_broken_local_file_ends_that_video_with_its_reason(root: DataRoot, tmp_path) -> None:
    src = tmp_path / "whole.mp4"
    write_video(src, [48])
    broken = truncate(src, tmp_path / "broken.mp4", keep=0.3)
    (source,) = expand_source(str(broken), Config().download)
    m = download.run(root, Config(), source)
    assert m.status == "failed" and m.reason
    assert not root.video_file(source.video_id).exists()
