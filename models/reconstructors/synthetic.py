"""synthetic-gt as a :class:`~models.backends.Reconstructor` (config ``reconstruct.synthetic_gt``).

Reads the synthetic tour's truth and hands downstream what DUSt3R would: an arbitrary
similarity (rotation, scale, translation, seeded per clip), relative depth noise and outliers.
Its output stores that ``similarity`` (truth world → recon) so benchmarks can undo it.
"""

from __future__ import annotations

import zlib
from typing import ClassVar

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from models.backends import ReadsTruth
from storage.config import Config, SyntheticReconstructConfig
from storage.frames import ClipFrames
from storage.truth import read_truth_frame, synthetic_truth


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


class SyntheticReconstructor(ReadsTruth):
    """The tour's truth, perturbed like a model's output (see the module docstring)."""

    name: ClassVar[str] = "synthetic-gt"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.params = cfg.reconstruct.synthetic_gt

    def reconstruct(self, clip: ClipFrames) -> dict[str, np.ndarray]:
        folder = synthetic_truth(self.cfg, "reconstruct", clip)
        truth = [read_truth_frame(folder, i) for i in clip.video_frames]
        seed = clip_seed(self.params.seed, clip.clip_id)
        return synthetic_recon(truth, clip.size, self.params, seed)
