"""Reconstruction quality on the ICL-NUIM living room (``livingroom1``), against its ground truth.

Owns reading the fixture (``/work/shared/fixtures/icl_livingroom1`` or ``$YTOCC_ICL_DIR``; a
small subset is vendored in ``tests/data/icl_livingroom1_subset``; see ``SOURCE.txt`` beside each
for the attribution) and scoring one clip's reconstruction the way the build would use it:

- registered fraction (frames with an SfM pose; ``registered`` in recon.npz, else all),
- ATE: RMS camera-centre error after a Sim(3) fit (Umeyama), as % of the true trajectory length,
- depth AbsRel after one median scale per clip, over pixels with depth in both,
- the real clean → align stages on the reconstruction, then the tilt of the aligned floor (angle
  between the true up and the aligned z) and the scale error of the aligned world (the ceiling is
  not visible here: align reports an assumed scale, named in ``align_method``),
- occupancy IoU (SSC convention, occupied vs free over voxels the truth knows; unknown in the
  prediction counts as free, i.e. a miss) of each frame's grid (voxelize's ``frame_grid`` on the
  aligned cloud) against the grid voxelized the same way, at the same origin, from the TRUE depth
  and poses mapped into the aligned world. Two of them:

  - ``iou_true_scale`` (the headline, the reconstruction's quality): align's rotation and
    floor, but the true scale (AbsRel's scale fit): how well the reconstructed geometry fills
    the true voxels; ``occupied_precision`` / ``occupied_recall`` say which way it misses;
  - ``iou_pipeline_scale``: with align's own scale, what the build's samples get. Here that
    scale can only be assumed (no ceiling in view), ``scale_err_pct`` off, and 8 cm
    voxels then cut a room of the wrong size: the gap between the two is the assumed scale's,
    not the reconstruction's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models import recon_metrics
from models.geometry import backproject, transform_points
from models.metrics import SSCMetrics
from storage.config import Config
from storage.formats import FREE, UNKNOWN, apply_to_poses, similarity_matrix
from tasks.align import align_cloud
from tasks.clean import clean_recon
from tasks.voxelize import frame_grid

SHARED = Path("/work/shared/fixtures/icl_livingroom1")
SUBSET = Path(__file__).resolve().parents[1] / "tests" / "data" / "icl_livingroom1_subset"
Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float64)
"""The dataset's world has +y up; z-up = (x, -z, y) (see SOURCE.txt)."""


def fixture_dir() -> Path | None:
    """The full 121-frame fixture ($YTOCC_ICL_DIR, else the shared copy), or None when absent."""
    folder = Path(os.environ.get("YTOCC_ICL_DIR", SHARED))
    return folder if (folder / "poses_gtworld.txt").exists() else None


def frame_ids(folder: Path) -> list[int]:
    """The frame numbers the folder holds (from ``rgb/NNNNN.jpg``)."""
    return sorted(int(p.stem) for p in (folder / "rgb").glob("*.jpg"))


def load(folder: Path, frames: list[int]) -> dict[str, np.ndarray]:
    """images (F,H,W,3) uint8 RGB, depth (F,H,W) m, K (3,3), cam2world (F,4,4) z-up world, m."""
    intr = json.loads((folder / "intrinsics.json").read_text())
    K = np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1]], float)
    rows = np.loadtxt(folder / "poses_gtworld.txt", comments="#")
    poses = {int(r[0]): r[1:].reshape(4, 4) for r in rows}
    images = [cv2.imread(str(folder / "rgb" / f"{i:05d}.jpg"))[..., ::-1] for i in frames]
    depth = [
        cv2.imread(str(folder / "depth" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        / intr["depth_scale"]
        for i in frames
    ]
    return {
        "images": np.ascontiguousarray(np.stack(images)),
        "depth": np.stack(depth).astype(np.float32),
        "K": K,
        "cam2world": np.stack([Y_UP_TO_Z_UP @ poses[i] for i in frames]),
    }


def evaluate(
    recon: dict[str, np.ndarray], truth: dict[str, np.ndarray], cfg: Config
) -> dict[str, Any]:
    """The module docstring's measures of one clip's recon.npz arrays against its truth."""
    reg = np.asarray(recon.get("registered", np.ones(len(recon["depth"]), bool)), bool)
    out: dict[str, Any] = {"frames": len(reg), "registered_frac": float(reg.mean())}
    true_c = truth["cam2world"][reg, :3, 3]
    err, _ = recon_metrics.ate(recon["cam2world"][reg, :3, 3].astype(np.float64), true_c)
    out["ate_pct"] = 100 * err / recon_metrics.trajectory_length(truth["cam2world"][:, :3, 3])
    scale = recon_metrics.median_scale(recon["depth"], truth["depth"])
    out["depth_abs_rel"] = recon_metrics.abs_rel(recon["depth"], truth["depth"], scale)
    out["depth_coverage"] = float((recon["depth"] > 0).mean())
    cloud, _ = clean_recon(recon, truth["images"], cfg.clean)
    report = align_cloud(cloud["points"], recon["cam2world"], cfg.align)
    poses = apply_to_poses(report, recon["cam2world"])
    # truth → aligned world: rotation from the poses, scale from AbsRel's fit (the median depth
    # ratio over ~10⁶ pixels), not from the camera centres (22 points on a path as short as
    # 40 cm, 1-2 % off: 3-6 cm at 3 m, most of a voxel); ATE keeps its own Sim(3)
    s = report["scale"] / scale  # aligned units per metre
    T = recon_metrics.similarity_from_poses(poses[reg], truth["cam2world"][reg], s)
    up = T[:3, 2] / s
    out["tilt_deg"] = float(np.degrees(np.arccos(np.clip(up[2], -1.0, 1.0))))
    out["scale_err_pct"] = 100 * abs(s - 1)
    out["align_method"] = report["method"]
    out["scale_source"] = report["scale_source"]  # "assumed" here: no ceiling in view
    # align's scale replaced by the true one: the reconstruction's own occupancy quality,
    # apart from the assumed scale (no ceiling in view here)
    metric = dict(report, scale=report["scale"] / s,
                  translation=(np.asarray(report["translation"]) / s).tolist())  # fmt: skip
    unscaled = np.diag([1 / s, 1 / s, 1 / s, 1.0]) @ T
    grids, out["samples"] = occupancy_iou(recon, truth, cloud, metric, unscaled, cfg)
    c = grids.confusion
    tp, fp, fn = c[1:, 1:].sum(), c[0, 1:].sum(), c[1:, 0].sum()
    out["iou_true_scale"] = grids.iou()
    # which way the misses go: occupied voxels predicted that are free (precision) or true
    # occupied voxels not predicted, unknown counted as free (recall)
    out["occupied_precision"] = float(100 * tp / max(tp + fp, 1))
    out["occupied_recall"] = float(100 * tp / max(tp + fn, 1))
    out["iou_pipeline_scale"] = occupancy_iou(recon, truth, cloud, report, T, cfg)[0].iou()
    return out


def occupancy_iou(
    recon: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    cloud: dict[str, np.ndarray],
    report: dict[str, Any],
    world_from_truth: np.ndarray,
    cfg: Config,
) -> tuple[SSCMetrics, int]:
    """The clip's per-frame grids scored against grids of the true depth, and their count."""
    vc = cfg.voxelize
    points = transform_points(similarity_matrix(report), cloud["points"])
    ones = np.ones(len(points), np.uint8)
    poses = apply_to_poses(report, recon["cam2world"])
    s = float(np.cbrt(np.linalg.det(world_from_truth[:3, :3])))
    true_poses = world_from_truth @ truth["cam2world"]
    true_poses[:, :3, :3] /= s
    stride = 4  # every 4th pixel of each frame: ~1 point per 2 cm at 3 m, dense for 8 cm voxels
    true_pts = np.concatenate(
        [
            backproject(d[::stride, ::stride] * s, _strided_k(truth["K"], stride), p)[0]
            for d, p in zip(truth["depth"], true_poses, strict=True)
        ]
    )
    true_ones = np.ones(len(true_pts), np.uint8)
    metrics, samples = SSCMetrics(), 0
    for k in range(len(poses)):
        depth = recon["depth"][k] * report["scale"]
        if not (depth > 0).any():
            continue
        try:
            pred, origin = frame_grid(points, ones, depth, recon["K"][k], poses[k], vc)
        except ValueError:
            continue
        target, _ = frame_grid(
            true_pts, true_ones, truth["depth"][k] * s, truth["K"], true_poses[k], vc, origin
        )
        metrics.add(np.where(pred == UNKNOWN, FREE, pred), target)
        samples += 1
    return metrics, samples


def _strided_k(K: np.ndarray, stride: int) -> np.ndarray:
    """Intrinsics of every ``stride``-th pixel (pixel centres at integers)."""
    Ks = K.astype(np.float64).copy()
    Ks[:2] /= stride
    return Ks
