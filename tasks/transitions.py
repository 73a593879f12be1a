"""Gradual transitions (fades, dissolves, wipes, whip pans) and clip coherence, on thumbnails.

PySceneDetect's detectors find hard cuts (AdaptiveDetector) and fades through black
(ThresholdDetector), but none of them finds a cross-fade, a dissolve or a wipe between two
rooms: each frame step of a 2 s dissolve changes little, so a content detector sees motion.
Here every decoded frame leaves a 16×9 thumbnail (recorded during PySceneDetect's own pass),
and two tests run on them, fully vectorised:

- :func:`gradual_transitions`, a multi-scale version of AdaptiveDetector's rule (the twin
  comparison of Zhang, Kankanhalli & Smoliar 1993): over a window of L frames the picture
  changes ``ratio`` times more than over the windows just before and after it, the change is
  large in absolute terms, and no single frame step makes half of it (that would be a hard
  cut, already found). Scales run from short to long; a transition keeps its shortest window.
- :func:`scene_distance`, the clip coherence check: a clip whose first and last second differ
  in palette (hue-saturation histograms) shows two places, e.g. across a transition slower
  than every window.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

THUMB_SIZE = (16, 9)  # (w, h): enough to see which room a frame shows, ~430 bytes a frame
_CUT_SHARE = 0.5  # a window whose largest single step makes ≥ half its change holds a hard cut
# A transition's first and last quarter change too little per window to pass the ratio test
# (a circle opening, a fade's tail), so each found run is widened by a quarter of its length.
_EDGE_SHARE = 0.25


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A (9,16,3) uint8 thumbnail of one frame (any size, any channel order).

    Bilinear to 64×36, then 4×4 area means: each thumbnail pixel averages 64 source pixels,
    at a quarter of the cost of one area resize from the full frame (0.04 vs 0.15 ms).
    """
    w, h = THUMB_SIZE
    small = cv2.resize(frame, (4 * w, 4 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(small, THUMB_SIZE, interpolation=cv2.INTER_AREA)


def _change(thumbs: np.ndarray, lag: int) -> np.ndarray:
    """Mean absolute change (0-255) between frame t and t-lag, for t in [lag, n)."""
    flat = thumbs.reshape(len(thumbs), -1).astype(np.int16)
    return np.abs(flat[lag:] - flat[:-lag]).mean(axis=1, dtype=np.float32)


def gradual_transitions(
    thumbs: np.ndarray, scales: list[int], ratio: float, min_change: float
) -> list[tuple[int, int]]:
    """Frame ranges [start, end) of gradual transitions in a video's thumbnails (n,h,w,3).

    `scales` are window lengths in frames; `ratio` the factor a window's change must exceed the
    mean of its neighbouring windows' by; `min_change` the least mean absolute change (0-255).
    """
    n = len(thumbs)
    covered = np.zeros(n, bool)
    if n < 3:
        return []
    step = np.concatenate([[0.0], _change(thumbs, 1)])  # step[t]: change from t-1 to t
    for lag in sorted({s for s in scales if 2 <= s < n}):
        change = np.full(n, np.nan, np.float32)
        change[lag:] = _change(thumbs, lag)  # change[t]: over the window [t-lag, t]
        # a neighbouring window holding a transition found at a shorter scale is no baseline
        free = np.where(_overlaps(covered, np.arange(n) - lag, np.arange(n)), np.nan, change)
        before = np.full(n, np.nan, np.float32)
        after = np.full(n, np.nan, np.float32)
        before[lag:] = free[:-lag]
        after[:-lag] = free[lag:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no neighbour known: not judged
            around = np.nan_to_num(np.nanmean(np.stack([before, after]), axis=0), nan=np.inf)
        biggest_step = np.zeros(n, np.float32)
        biggest_step[lag:] = sliding_window_view(step[1:], lag).max(axis=1)
        with np.errstate(invalid="ignore"):
            hit = (
                (change >= min_change)
                & (change > ratio * around)
                & (biggest_step < _CUT_SHARE * change)
            )
        ends = np.flatnonzero(hit)
        starts = ends - lag
        fresh = ~_overlaps(covered, starts, ends)  # not already explained by a shorter window
        covered |= _cover(n, starts[fresh], ends[fresh] + 1)
    runs = _runs(covered)
    pads = [int(np.ceil(_EDGE_SHARE * (b - a))) for a, b in runs]
    padded = _cover(n, np.array([a - p for (a, _), p in zip(runs, pads, strict=True)], int),
                    np.array([b + p for (_, b), p in zip(runs, pads, strict=True)], int))  # fmt: skip
    return _runs(padded)


def _overlaps(mask: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each window [start, end] (inclusive, clipped to the array): does it touch `mask`?"""
    taken = np.concatenate([[0], np.cumsum(mask)])
    lo = np.clip(starts, 0, len(mask))
    hi = np.clip(ends + 1, 0, len(mask))
    return taken[hi] - taken[lo] > 0


def _cover(n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Boolean (n,) mask of the union of the ranges [start, end), clipped to [0, n)."""
    marks = np.zeros(n + 1, np.int32)
    np.add.at(marks, np.clip(starts, 0, n), 1)
    np.add.at(marks, np.clip(ends, 0, n), -1)
    return np.cumsum(marks)[:n] > 0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def scene_distance(first: np.ndarray, last: np.ndarray) -> float:
    """Bhattacharyya distance (0 same, 1 disjoint) of the hue-saturation histograms of two
    stacks of BGR thumbnails (k,h,w,3): how unlike two stretches of a clip look as places.

    A camera panning through one room keeps its palette (random-texture pans: ≤ 0.2 here);
    two different rooms do not (testsrc2 vs mandelbrot: 0.65).
    """
    hists = []
    for stack in (first, last):
        hsv = cv2.cvtColor(np.ascontiguousarray(stack.reshape(-1, stack.shape[-2], 3)),
                           cv2.COLOR_BGR2HSV)  # fmt: skip
        h = cv2.calcHist([hsv], [0, 1], None, [12, 4], [0, 180, 0, 256])
        hists.append(h / max(float(h.sum()), 1.0))
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))
