"""Shot detection finds the known hard cuts; clip lengths follow the config."""

from pathlib import Path

import numpy as np
import pytest

from storage.atomic import read_json
from storage.config import ShotsConfig, load_config
from storage.formats import read_clip_info
from storage.markers import Marker
from tasks import download, frames, shots
from tasks.shots import detect_shots, split_spans
from tasks.sources import VideoSource
from tests.support.videos import rotated, short_shot, two_rooms, write_video

FAST = ["frames.per_clip=6", "frames.long_side=80"]


def f1_within(found: list[int], truth: list[int], tol: int = 1) -> float:
    hit = sum(any(abs(f - t) <= tol for f in found) for t in truth)
    precision = hit / len(found) if found else float(not truth)
    recall = hit / len(truth) if truth else 1.0
    return 0.0 if hit == 0 and truth else 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", [0, 1])
def test_known_cuts_are_found_exactly(tmp_path, seed) -> None:
    truth = write_video(tmp_path / "v.mp4", [40, 30, 50, 36], seed=seed)
    spans, motion, fps = detect_shots(tmp_path / "v.mp4", ShotsConfig())
    found = [a for a, _ in spans[1:]]
    assert f1_within(found, truth) == 1.0
    assert spans[0][0] == 0 and spans[-1][1] == 156 and fps == 24
    # the per-frame motion the detector reports stands out at a cut: 5× the typical frame's,
    # so a motion score that flattens cuts (a wrong frame pairing) fails here
    assert motion[truth[0]] > 5 * np.median(motion[1:])


def test_a_video_without_cuts_is_one_clip(tmp_path) -> None:
    write_video(tmp_path / "v.mp4", [60])
    spans, _, _ = detect_shots(tmp_path / "v.mp4", ShotsConfig())
    assert spans == [(0, 60)]


def test_short_spans_drop_and_long_spans_split_evenly() -> None:
    cfg = ShotsConfig(min_clip_s=1.0, max_clip_s=2.0)
    out = split_spans([(0, 10), (10, 110), (110, 150)], fps=24.0, cfg=cfg)
    assert out == [(10, 43), (43, 77), (77, 110), (110, 150)]


def _harvested(root, video: Path, cfg) -> tuple[str, list[tuple[int, int]]]:
    """Run the real download (local file), shots and frames stages; the clips' frame ranges."""
    source = VideoSource("v", str(video), local=True)
    assert download.run(root, cfg, source).status == "ok"
    marker = shots.run(root, cfg, "v")
    spans = [tuple(s) for s in marker.stats.get("spans", [])]
    for cid in root.clip_ids("v"):
        assert frames.run(root, cfg, cid).status == "ok"
    return marker, spans


def _sampled(root) -> list[int]:
    return [f for c in root.clip_ids("v") for f in read_json(root.frames_index(c))["video_frames"]]


@pytest.mark.parametrize(
    "transition, extra",
    [("fade", []), ("dissolve", []), ("wipeleft", []), ("slideleft", []), ("circleopen", []),
     ("fadeblack", []), ("fadeblack", ["shots.fade_threshold=12"])],
    ids=["fade", "dissolve", "wipeleft", "slideleft", "circleopen", "fadeblack",
         "fadeblack-with-thresholddetector"],
)  # fmt: skip
def test_no_clip_spans_a_gradual_transition_and_no_sample_is_a_blend(
    root, tmp_path, transition, extra
):
    start, end = two_rooms(tmp_path / "v.mp4", transition, seconds=4.0, overlap=2.0)
    marker, spans = _harvested(root, tmp_path / "v.mp4", load_config(overrides=[*FAST, *extra]))
    assert len(spans) == 2, marker.stats  # one clip per room
    assert spans[0][1] <= start and spans[1][0] >= end  # neither reaches into the transition
    assert not [f for f in _sampled(root) if start <= f < end]
    assert marker.stats["transitions"], "the transition is recorded in the marker"


def test_a_very_short_shot_is_cut_out_and_its_dropping_recorded(root, tmp_path) -> None:
    start, end = short_shot(tmp_path / "v.mp4", seconds=3.0, short_frames=5)
    marker, spans = _harvested(root, tmp_path / "v.mp4", load_config(overrides=FAST))
    assert spans == [(0, start), (end, end + 72)]
    assert {"frames": [start, end], "reason": "dropped: shorter than 1.0 s"} in marker.stats[
        "notes"
    ]


def test_a_transition_slower_than_every_window_is_caught_by_the_coherence_check(root, tmp_path):
    start, end = two_rooms(tmp_path / "v.mp4", "fade", seconds=2.0, overlap=8.0)
    cfg = load_config(overrides=[*FAST, "shots.transition_scales_s=[0.25,0.5]"])
    marker, spans = _harvested(root, tmp_path / "v.mp4", cfg)
    assert not [s for s in spans if s[0] < start + 12 and s[1] > end - 12]  # none spans both
    assert any("two scenes" in n["reason"] for n in marker.stats["notes"]), marker.stats


@pytest.mark.parametrize("degrees", [90, 270])
def test_rotated_videos_cut_where_upright_ones_do(tmp_path, degrees) -> None:
    write_video(tmp_path / "v.mp4", [40, 30, 50], seed=2)
    upright = detect_shots(tmp_path / "v.mp4", ShotsConfig())[0]
    turned = rotated(tmp_path / "v.mp4", tmp_path / "r.mp4", degrees)
    assert detect_shots(turned, ShotsConfig())[0] == upright == [(0, 40), (40, 70), (70, 120)]


def _realestate(root, tmp_path, spans_s) -> Marker:
    write_video(tmp_path / "v.mp4", [144], seed=4)  # 6 s
    cfg = load_config(overrides=FAST)
    src = VideoSource("v", str(tmp_path / "v.mp4"), local=True, clips_s=tuple(spans_s))
    assert download.run(root, cfg, src).status == "ok"
    return shots.run(root, cfg, "v")


def test_realestate10k_spans_past_the_end_are_clipped_with_a_warning(root, tmp_path) -> None:
    m = _realestate(root, tmp_path, [(1.0, 3.0), (4.0, 9.04)])
    assert m.status == "ok" and m.stats["spans"] == [[24, 73], [96, 144]]
    assert m.stats["warnings"] == ["span 4.00-9.04 s clipped to the video (0-6.00 s)"]
    info = read_clip_info(root.clip_json("v-001"))
    assert info.end_s == pytest.approx(6.0)


def test_realestate10k_spans_wholly_outside_fail_at_shots_with_a_reason(root, tmp_path) -> None:
    m = _realestate(root, tmp_path, [(20.0, 25.0)])
    assert m.status == "failed"
    assert m.reason == (
        "every RealEstate10K span lies outside the video "
        "(span 20.00-25.00 s lies outside the video (0-6.00 s))"
    )


def test_realestate10k_spans_replace_shot_detection(root, tmp_path) -> None:
    """README: RealEstate10K camera files' "timestamps give the clip spans and replace shot
    detection": clips follow the spans, across the video's own hard cut at frame 40."""
    from storage.config import Config
    from storage.formats import read_clip_info
    from tasks import download, shots
    from tasks.sources import VideoSource

    src = tmp_path / "tour.mp4"
    cuts = write_video(src, [40, 56])  # a hard cut at frame 40 that detection would split on
    assert cuts == [40]
    spans_s = ((0.5, 2.5), (2.75, 3.875))  # frames 12..60 span the cut; 66..93
    source = VideoSource("re10k-video", str(src), local=True, clips_s=spans_s)
    assert download.run(root, Config(), source).status == "ok"
    m = shots.run(root, Config(), "re10k-video")
    assert m.status == "ok", m.reason
    infos = [read_clip_info(root.clip_json(c)) for c in root.clip_ids("re10k-video")]
    assert [(i.start_frame, i.end_frame) for i in infos] == [(12, 61), (66, 94)]
    assert all(i.source == "realestate10k" for i in infos)
    plain = VideoSource("plain-video", str(src), local=True)  # the same file, no spans
    assert download.run(root, Config(), plain).status == "ok"
    assert [tuple(s) for s in shots.run(root, Config(), "plain-video").stats["spans"]] == [
        (0, 40),
        (40, 96),
    ]


@pytest.mark.parametrize("detector", ["adaptive", "content", "threshold", "hash", "histogram"])
def test_every_detector_runs_with_short_shots_allowed_and_leaves_thumbnails(tmp_path, detector):
    write_video(tmp_path / "v.mp4", [30, 20])
    found = shots.scan_video(tmp_path / "v.mp4", ShotsConfig(detector=detector))
    assert found.thumbs.shape == (50, 9, 16, 3) and found.thumbs[-1].any()
    assert found.spans[0][0] == 0 and found.spans[-1][1] == 50
