"""reconstruct stage: per clip K, cam2world (OpenCV axes), z-depth and confidence (recon.npz).

Backends: ``dust3r`` (models/dust3r.py; GPU when present) and ``synthetic-gt``, which reads the
synthetic tour's truth and hands downstream what DUSt3R would: an arbitrary similarity
(rotation, scale, translation, seeded per clip), relative depth noise and outliers. Its output
stores that ``similarity`` (truth world → recon) so benchmarks can undo it, and its marker names
the backend so it never passes for a model's result. Degenerate results end the clip.
"""

from __future__ import annotations

import zlib
from typing import Any

import cv2
import numpy as np
from prefect import task
from scipy.spatial.transform import Rotation

from storage.config import Config, ReconstructConfig, SyntheticReconstructConfig
from storage.formats import write_recon
from storage.frames import read_clip_frames, read_frames_index
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage
from storage.truth import read_truth_frame, synthetic_truth

STAGE = "reconstruct"


def check_recon(
    K: np.ndarray,
    cam2world: np.ndarray,
    depth: np.ndarray,
    conf: np.ndarray,
    cfg: ReconstructConfig,
) -> dict[str, Any]:
    """Counts of a usable reconstruction, or StageFailure naming what is degenerate."""
    focal = K[:, [0, 1], [0, 1]]
    if not np.isfinite(focal).all():
        raise StageFailure("degenerate reconstruction: NaN focal length")
    if (focal <= 0).any():
        raise StageFailure(
            f"degenerate reconstruction: non-positive focal ({float(focal.min()):.3g})"
        )
    width = 2 * float(np.median(K[:, 0, 2]))
    fov = float(np.degrees(2 * np.arctan(width / (2 * focal[:, 0].min()))))
    if fov > cfg.max_fov_deg:
        raise StageFailure(
            f"degenerate reconstruction: focal {float(focal.min()):.3g} px gives a "
            f"{fov:.0f}° field of view (> {cfg.max_fov_deg:.0f}°)"
        )
    if not np.isfinite(cam2world).all():
        raise StageFailure("degenerate reconstruction: NaN camera pose")
    good = np.isfinite(depth) & (depth > 0) & (conf >= cfg.min_conf)
    frac = float(good.mean())
    if frac < cfg.min_conf_points_frac:
        raise StageFailure(
            f"too few confident points ({frac:.1%} < {cfg.min_conf_points_frac:.0%})"
        )
    centres = cam2world[:, :3, 3]
    extent = float(np.linalg.norm(np.ptp(centres, axis=0)))
    scene = float(np.median(depth[good]))
    if extent < cfg.min_trajectory_extent * scene:
        raise StageFailure(
            f"collapsed trajectory: cameras span {extent:.3g} for scene depth {scene:.3g} (frozen camera?)"
        )
    return {
        "frames": len(K),
        "confident_frac": frac,
        "focal_px": float(np.median(focal)),
        "trajectory_extent": extent,
        "median_depth": scene,
    }


def random_similarity(seed: int) -> np.ndarray:
    """A random 4×4 similarity: uniform rotation, log-uniform scale in [0.2, 5], translation ~ N(0, 2)."""
    rng = np.random.default_rng(seed)
    sim = np.eye(4)
    sim[:3, :3] = (
        np.exp(rng.uniform(np.log(0.2), np.log(5.0)))
        * Rotation.random(random_state=seed).as_matrix()
    )
    sim[:3, 3] = rng.normal(0, 2, 3)
    return sim


def synthetic_recon(
    truth: list[dict[str, np.ndarray]],
    size: tuple[int, int],
    cfg: SyntheticReconstructConfig,
    seed: int,
) -> dict[str, np.ndarray]:
    """What DUSt3R would return for frames with this truth, at the stored size (h, w)."""
    h, w = size
    rng = np.random.default_rng(seed)
    sim = random_similarity(seed) if cfg.similarity else np.eye(4)
    s = float(np.cbrt(np.linalg.det(sim[:3, :3])))
    rot = sim[:3, :3] / s
    Ks, poses, depths = [], [], []
    for t in truth:
        th, tw = t["depth"].shape
        K = np.diag([w / tw, h / th, 1.0]) @ t["K"]
        depth = cv2.resize(t["depth"], (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float64)
        valid = depth > 0
        depth = depth * s * (1 + cfg.depth_noise * rng.standard_normal(depth.shape))
        out = valid & (rng.random(depth.shape) < cfg.outlier_frac)
        depth[out] *= rng.uniform(0.3, 2.0, int(out.sum()))
        depth[~valid] = 0
        pose = np.eye(4)
        pose[:3, :3] = rot @ t["cam2world"][:3, :3]
        pose[:3, 3] = sim[:3, :3] @ t["cam2world"][:3, 3] + sim[:3, 3]
        Ks.append(K)
        poses.append(pose)
        depths.append(depth)
    depth = np.stack(depths).astype(np.float32)
    conf = np.where(depth > 0, 1.0 + 4.0 * rng.random(depth.shape), 0.0).astype(np.float32)
    return {
        "K": np.stack(Ks),
        "cam2world": np.stack(poses),
        "depth": depth,
        "conf": conf,
        "similarity": sim,
    }


def clip_seed(base: int, clip: str) -> int:
    """A per-clip seed from the config seed and the clip id (stable across runs)."""
    return base * 1_000_003 + zlib.crc32(clip.encode())


def reconstruct(root: DataRoot, clip: str, cfg: Config) -> StageResult:
    """Reconstruct one clip with the configured backend and write recon.npz."""
    rc = cfg.reconstruct
    index = read_frames_index(root, clip)
    n = len(index["video_frames"])
    if n < 2:
        raise StageFailure(f"a clip of {n} frame cannot be reconstructed (need ≥ 2)")
    size = (int(index["height"]), int(index["width"]))
    if rc.backend == "synthetic-gt":
        folder = synthetic_truth(cfg, STAGE)
        truth = [read_truth_frame(folder, int(i)) for i in index["video_frames"]]
        sc = rc.synthetic_gt
        recon = synthetic_recon(truth, size, sc, clip_seed(sc.seed, clip))
        weights = None
    else:
        from models.dust3r import reconstruct_images

        images = read_clip_frames(root, clip, n)
        recon = reconstruct_images(images, rc.dust3r)
        weights = rc.dust3r.weights
    stats = check_recon(recon["K"], recon["cam2world"], recon["depth"], recon["conf"], rc)
    extra = {k: v for k, v in recon.items() if k not in ("K", "cam2world", "depth", "conf")}
    write_recon(
        root.recon_npz(clip), recon["K"], recon["cam2world"], recon["depth"], recon["conf"], **extra
    )
    return StageResult(stats, backend=rc.backend, weights=weights)


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The reconstruct stage of one clip."""
    return run_item_stage(root, cfg, clip, STAGE, lambda: reconstruct(root, clip, cfg), force=force)


reconstruct_task = task(name="reconstruct", tags=["gpu"])(run)
