"""Synthetic-tour truth files round-trip exactly."""

import numpy as np
import pytest

from storage.formats import FormatError
from storage.truth import (
    TruthShot,
    read_meta,
    read_shots,
    read_truth_frame,
    write_meta,
    write_shots,
    write_truth_frame,
)


def test_truth_round_trip(tmp_path) -> None:
    with pytest.raises(FormatError, match="ytocc synth"):
        read_meta(tmp_path)
    write_meta(tmp_path, {"width": 8, "height": 6, "fps": 24, "num_frames": 2, "seed": 1})
    shots = [TruthShot(0, 24, True, 0), TruthShot(24, 48, False, -1)]
    write_shots(tmp_path, shots)
    depth = np.random.default_rng(0).random((6, 8)).astype(np.float32)
    write_truth_frame(tmp_path, 1, np.eye(3), np.eye(4), depth, np.full((6, 8), 3))
    assert read_meta(tmp_path)["num_frames"] == 2
    assert read_shots(tmp_path) == shots
    fr = read_truth_frame(tmp_path, 1)
    assert np.array_equal(fr["depth"], depth) and fr["labels"].dtype == np.uint8
    with pytest.raises(FormatError, match="no frame 5"):
        read_truth_frame(tmp_path, 5)


def _tour(out_dir, video_bytes: bytes):
    """A one-frame tour OUT_DIR: tour.mp4 (these bytes) and truth/ bound to it."""
    from storage.truth import bind_video

    out_dir.mkdir(parents=True)
    (out_dir / "tour.mp4").write_bytes(video_bytes)
    write_meta(out_dir / "truth", {"width": 8, "height": 6, "fps": 24, "num_frames": 1, "seed": 0})
    write_shots(out_dir / "truth", [TruthShot(0, 1, True, 0)])
    bind_video(out_dir / "truth", out_dir / "tour.mp4")
    return out_dir


def _clip_of(root, video: str, video_bytes: bytes):
    from storage.frames import ClipFrames

    path = root.video_file(video)
    path.parent.mkdir(parents=True)
    path.write_bytes(video_bytes)
    return ClipFrames(root, f"{video}-000", [0], (6, 8))


def _cfg(truth_dir):
    from types import SimpleNamespace

    return SimpleNamespace(truth_dir=truth_dir)


def test_synthetic_truth_is_the_truth_of_the_clips_video_in_either_form(tmp_path) -> None:
    from storage.layout import DataRoot
    from storage.markers import StageFailure
    from storage.truth import synthetic_truth

    a, b = _tour(tmp_path / "tours" / "a", b"video a"), _tour(tmp_path / "tours" / "b", b"video b")
    root = DataRoot(tmp_path / "data")
    clip = _clip_of(root, "vid", b"video a")
    for form in (a, a / "truth", tmp_path / "tours"):  # OUT_DIR, its truth/, a folder of tours
        assert synthetic_truth(_cfg(form), "segment", clip) == a / "truth"
    with pytest.raises(StageFailure) as e:
        synthetic_truth(_cfg(b), "segment", clip)
    assert str(e.value) == f"no synthetic truth under {b} is of video videos/vid/video.mp4"
    lost = _clip_of(root, "gone", b"x")
    root.video_file("gone").unlink()
    with pytest.raises(StageFailure, match="no video file videos/gone/video.mp4"):
        synthetic_truth(_cfg(a), "segment", lost)
    with pytest.raises(StageFailure, match="no synthetic truth at"):
        synthetic_truth(_cfg(tmp_path / "data"), "segment", clip)
    (b / "truth" / "meta.json").write_text("[1, 2")  # a cut meta.json in the folder of tours
    with pytest.raises(StageFailure, match=r"b/truth/meta.json is unreadable"):
        synthetic_truth(_cfg(b), "segment", clip)


def test_a_truth_without_video_sha256_asks_to_rerun_synth(tmp_path) -> None:
    from storage.layout import DataRoot
    from storage.markers import StageFailure
    from storage.truth import synthetic_truth

    a = _tour(tmp_path / "a", b"video a")
    write_meta(a / "truth", {k: v for k, v in read_meta(a / "truth").items()
                             if k != "video_sha256"})  # fmt: skip
    clip = _clip_of(DataRoot(tmp_path / "data"), "vid", b"video a")
    with pytest.raises(
        StageFailure, match=r"truth .* records no video_sha256.*re-run `ytocc synth`"
    ):
        synthetic_truth(_cfg(a), "indoor", clip)


def test_a_clip_without_data_root_takes_only_a_single_tour(tmp_path) -> None:
    from storage.frames import images_as_clip
    from storage.markers import StageFailure
    from storage.truth import synthetic_truth

    a, _ = _tour(tmp_path / "tours" / "a", b"video a"), _tour(tmp_path / "tours" / "b", b"b")
    clip = images_as_clip(np.zeros((1, 6, 8, 3), np.uint8), "frames", [0])
    assert synthetic_truth(_cfg(a), "reconstruct", clip) == a / "truth"
    with pytest.raises(StageFailure, match="no video to pick its truth by.*holds 2 tours"):
        synthetic_truth(_cfg(tmp_path / "tours"), "reconstruct", clip)


def test_video_digest_is_reread_when_the_file_changes(tmp_path) -> None:
    import hashlib
    import os

    from storage.truth import video_sha256

    video = tmp_path / "v.mp4"
    video.write_bytes(b"one")
    assert video_sha256(video) == hashlib.sha256(b"one").hexdigest()
    video.write_bytes(b"two")
    os.utime(video, ns=(1, 1))  # even an mtime set back: the size changed
    assert video_sha256(video) == hashlib.sha256(b"two").hexdigest()
