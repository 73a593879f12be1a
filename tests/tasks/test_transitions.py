"""The transition search and the coherence check on thumbnails, without any video."""

import numpy as np

from tasks.transitions import gradual_transitions, scene_distance

SCALES = [6, 12, 24, 48]


def _rooms(n_a: int, n_mix: int, n_b: int, *, seed: int = 0, cut: bool = False) -> np.ndarray:
    """Thumbnails (n,9,16,3): room A drifting, a linear mix over `n_mix` frames, room B."""
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(20, 235, (9, 16, 3)) for _ in range(2))
    drift = rng.normal(0, 1.5, (n_a + n_mix + n_b, 9, 16, 3)).cumsum(axis=0) * 0.2
    alpha = np.concatenate([np.zeros(n_a), np.linspace(0, 1, n_mix), np.ones(n_b)])
    if cut:
        alpha = (alpha > 0.5).astype(float)
    frames = (1 - alpha)[:, None, None, None] * a + alpha[:, None, None, None] * b + drift
    return np.clip(frames, 0, 255).astype(np.uint8)


def test_a_linear_mix_is_found_and_covers_every_mixed_frame() -> None:
    thumbs = _rooms(100, 40, 100)
    ((start, end),) = gradual_transitions(thumbs, SCALES, ratio=3.0, min_change=12.0)
    assert start <= 100 and end >= 140
    assert end - start <= 40 + 2 * 24  # widened by at most its window and a quarter each side


def test_a_hard_cut_is_left_to_the_cut_detector() -> None:
    assert gradual_transitions(_rooms(100, 2, 100, cut=True), SCALES, 3.0, 12.0) == []


def test_a_steady_drift_is_no_transition() -> None:
    rng = np.random.default_rng(3)
    pan = np.clip(rng.normal(0, 2, (240, 9, 16, 3)).cumsum(axis=0) + 128, 0, 255)
    assert gradual_transitions(pan.astype(np.uint8), SCALES, 3.0, 12.0) == []


def test_a_fade_out_and_in_through_black_is_found_whole() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.uniform(20, 235, (2, 9, 16, 3))
    level = np.concatenate([np.ones(100), np.linspace(1, 0, 24), np.zeros(12),
                            np.linspace(0, 1, 36), np.ones(100)])  # fmt: skip
    room = np.where(np.arange(len(level)) < 130, 0, 1)[:, None, None, None]
    thumbs = (level[:, None, None, None] * np.where(room == 0, a, b)).astype(np.uint8)
    runs = gradual_transitions(thumbs, SCALES, 3.0, 12.0)
    assert all(any(s <= f < e for s, e in runs) for f in range(100, 172)), runs


def test_scene_distance_tells_one_place_from_two() -> None:
    rng = np.random.default_rng(4)
    warm = rng.uniform([0, 60, 150], [60, 140, 255], (24, 9, 16, 3)).astype(np.uint8)  # BGR
    cool = rng.uniform([150, 60, 0], [255, 140, 60], (24, 9, 16, 3)).astype(np.uint8)
    assert scene_distance(warm[:12], warm[12:]) < 0.2  # one place seen twice
    assert scene_distance(warm, cool) > 0.6  # a warm room and a cool one
