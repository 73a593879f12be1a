"""Reconstruction quality against ground truth: Sim(3) fit, ATE, depth AbsRel (numpy only).

ATE follows Sturm et al., "A Benchmark for the Evaluation of RGB-D SLAM Systems", IROS 2012:
camera centres aligned to the truth by the least-squares similarity of Umeyama (PAMI 1991), RMS
of the residual distances. Depth AbsRel follows Eigen et al. (NeurIPS 2014): mean |d − d*| / d*
over pixels valid in both maps, after one scale per clip (the reconstruction's scale is arbitrary).
"""

from __future__ import annotations

import numpy as np


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 4×4 similarity T minimising Σ‖dst − T·src‖² for points (N,3), N ≥ 3 not collinear."""
    if len(src) < 3:
        raise ValueError(f"a similarity needs ≥ 3 point pairs, got {len(src)}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    U, S, Vt = np.linalg.svd(cov)
    E = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        E[2, 2] = -1
    R = U @ E @ Vt
    var = (a**2).sum() / len(src)
    s = float(np.trace(np.diag(S) @ E) / var) if var > 0 else 1.0
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = mu_d - s * R @ mu_s
    return T


def ate(est_centres: np.ndarray, true_centres: np.ndarray) -> tuple[float, np.ndarray]:
    """RMS ATE (truth units) after a Sim(3) fit of (N,3) centres, and the fit (4×4, est → truth)."""
    T = umeyama(est_centres, true_centres)
    aligned = est_centres @ T[:3, :3].T + T[:3, 3]
    return float(np.sqrt(((aligned - true_centres) ** 2).sum(1).mean())), T


def trajectory_length(centres: np.ndarray) -> float:
    """Summed distance between consecutive (N,3) camera centres."""
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())


def abs_rel(depth: np.ndarray, true_depth: np.ndarray, scale: float) -> float:
    """Mean |scale·depth − truth| / truth over pixels > 0 in both (any shape)."""
    valid = (depth > 0) & (true_depth > 0)
    if not valid.any():
        return float("nan")
    return float(np.mean(np.abs(scale * depth[valid] - true_depth[valid]) / true_depth[valid]))


def median_scale(depth: np.ndarray, true_depth: np.ndarray) -> float:
    """The per-clip scale truth/estimate as the median ratio over pixels > 0 in both."""
    valid = (depth > 0) & (true_depth > 0)
    if not valid.any():
        return float("nan")
    return float(np.median(true_depth[valid] / depth[valid]))


def similarity_from_poses(
    aligned: np.ndarray, truth: np.ndarray, scale: float | None = None
) -> np.ndarray:
    """The similarity truth world → reconstructed world from paired rigid poses (F,4,4).

    Rotation: the chordal mean of R_aligned·R_trueᵀ over frames (well defined even on a straight
    camera path); scale (unless given: reconstructed units per true unit) and translation: least
    squares of the camera centres given it.
    """
    U, _, Vt = np.linalg.svd((aligned[:, :3, :3] @ truth[:, :3, :3].transpose(0, 2, 1)).sum(0))
    R = U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt
    a, b = aligned[:, :3, 3], truth[:, :3, 3] @ R.T
    a0, b0 = a - a.mean(0), b - b.mean(0)
    s = float((a0 * b0).sum() / (b0 * b0).sum()) if scale is None else float(scale)
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = a.mean(0) - s * b.mean(0)
    return T
