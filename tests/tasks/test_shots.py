"""Shot detection finds the known hard cuts; clip lengths follow the config."""

import numpy as np
import pytest

from storage.config import ShotsConfig
from tasks.shots import detect_shots, split_spans
from tests.support.videos import write_video


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
    assert motion[truth[0]] > 5 * np.median(motion[1:])


def test_a_video_without_cuts_is_one_clip(tmp_path) -> None:
    write_video(tmp_path / "v.mp4", [60])
    spans, _, _ = detect_shots(tmp_path / "v.mp4", ShotsConfig())
    assert spans == [(0, 60)]


def test_short_spans_drop_and_long_spans_split_evenly() -> None:
    cfg = ShotsConfig(min_clip_s=1.0, max_clip_s=2.0)
    out = split_spans([(0, 10), (10, 110), (110, 150)], fps=24.0, cfg=cfg)
    assert out == [(10, 43), (43, 77), (77, 110), (110, 150)]


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
