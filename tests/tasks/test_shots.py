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
