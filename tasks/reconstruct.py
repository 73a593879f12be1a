"""reconstruct stage: per clip K, cam2world (OpenCV axes), z-depth and confidence (recon.npz).

The backend (``reconstruct.backend``) comes from :data:`models.reconstructors.RECONSTRUCTORS`
(``dust3r``, ``synthetic-gt``, ...); this stage checks what it returns, whatever it is, and
writes it. The marker names the backend so a synthetic-gt result never passes for a model's.
Degenerate results end the clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from models.backends import backend_for
from storage.config import Config, ReconstructConfig
from storage.formats import write_recon
from storage.frames import ClipFrames, clip_frames
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage

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


def reconstruct_frames(
    frames: ClipFrames, cfg: Config
) -> tuple[dict[str, np.ndarray], StageResult]:
    """The configured backend's recon.npz arrays of `frames`, checked, and the marker's result
    (the checks' counts, the backend's own ``stats``, its name and weights); StageFailure when
    the backend cannot do the clip or its result is degenerate."""
    n = len(frames.video_frames)
    if n < 2:
        raise StageFailure(f"a clip of {n} frame cannot be reconstructed (need ≥ 2)")
    backend = backend_for(STAGE, cfg)
    recon = backend.reconstruct(frames)  # type: ignore[attr-defined]
    backend_stats = recon.pop("stats", {})
    stats = check_recon(
        recon["K"], recon["cam2world"], recon["depth"], recon["conf"], cfg.reconstruct
    )
    result = StageResult(stats | backend_stats, backend=backend.name, weights=backend.weights_id)
    return recon, result


def write_recon_arrays(path: Path, recon: dict[str, np.ndarray]) -> None:
    """recon.npz at `path` (atomic): the four arrays and any extras the backend returned."""
    extra = {k: v for k, v in recon.items() if k not in ("K", "cam2world", "depth", "conf")}
    write_recon(path, recon["K"], recon["cam2world"], recon["depth"], recon["conf"], **extra)


def reconstruct(root: DataRoot, clip: str, cfg: Config) -> StageResult:
    """Reconstruct one clip with the configured backend and write recon.npz."""
    recon, result = reconstruct_frames(clip_frames(root, clip), cfg)
    write_recon_arrays(root.recon_npz(clip), recon)
    return result


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The reconstruct stage of one clip."""
    return run_item_stage(root, cfg, clip, STAGE, lambda: reconstruct(root, clip, cfg), force=force)


reconstruct_task = task(name="reconstruct", tags=["gpu"])(run)
