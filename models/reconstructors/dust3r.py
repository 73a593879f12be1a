"""DUSt3R as a :class:`~models.backends.Reconstructor` (config ``reconstruct.dust3r``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from models.backends import WeightSpec
from storage.config import Config
from storage.frames import ClipFrames


def locate_weights(spec: str) -> Path:
    """The local checkpoint file or HF folder of `spec`, without loading it (WeightsNotFound)."""
    from models.weights import resolve_dir, resolve_file

    p = Path(spec).expanduser()
    if p.suffix in (".pth", ".safetensors"):
        return resolve_file(p, what="DUSt3R checkpoint")
    return resolve_dir(spec, what="DUSt3R weights", allow_patterns=["config.json", "*.safetensors"])


class Dust3rReconstructor:
    """Pairwise point maps and global alignment (``models.dust3r``), GPU when present."""

    name: ClassVar[str] = "dust3r"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg.reconstruct.dust3r

    @classmethod
    def required_weights(cls, cfg: Config) -> list[WeightSpec]:
        spec = cfg.reconstruct.dust3r.weights
        return [WeightSpec("reconstruct", cls.name, spec, "DUSt3R checkpoint",
                           lambda: locate_weights(spec))]  # fmt: skip

    @property
    def weights_id(self) -> str:
        return self.cfg.weights

    def reconstruct(self, clip: ClipFrames) -> dict[str, np.ndarray]:
        from models.dust3r import reconstruct_images

        return reconstruct_images(clip.images, self.cfg)
