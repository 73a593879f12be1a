"""Ground truth of a synthetic house tour: the files `ytocc synth` writes and synthetic-gt reads.

Layout under ``truth/``: ``meta.json``, ``shots.json``, ``rooms.json`` and
``frames/{i:05d}.npz`` per video frame (K at video size, cam2world with OpenCV camera axes in a
z-up metric world with the floor at z = 0, metric z-depth with 0 = no hit, NYU-11 labels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from storage.atomic import read_json, write_json, write_npz
from storage.formats import FormatError
from storage.markers import StageFailure


@dataclass(frozen=True)
class TruthShot:
    """One shot of the tour: video frames [start_frame, end_frame), its room, indoor or not."""

    start_frame: int
    end_frame: int
    indoor: bool
    room: int


def truth_frame_path(truth_dir: Path, i: int) -> Path:
    return Path(truth_dir) / "frames" / f"{i:05d}.npz"


def write_meta(truth_dir: Path, meta: dict[str, Any]) -> None:
    write_json(Path(truth_dir) / "meta.json", meta)


def read_meta(truth_dir: Path) -> dict[str, Any]:
    """{"width", "height", "fps", "num_frames", "seed", ...} of the tour video."""
    path = Path(truth_dir) / "meta.json"
    if not path.exists():
        raise FormatError(
            f"no synthetic truth at {truth_dir} (missing meta.json; run `ytocc synth`)"
        )
    return read_json(path)


def write_shots(truth_dir: Path, shots: list[TruthShot]) -> None:
    write_json(Path(truth_dir) / "shots.json", [asdict(s) for s in shots])


def read_shots(truth_dir: Path) -> list[TruthShot]:
    return [TruthShot(**s) for s in read_json(Path(truth_dir) / "shots.json")]


def write_rooms(truth_dir: Path, rooms: list[dict[str, Any]]) -> None:
    write_json(Path(truth_dir) / "rooms.json", rooms)


def read_rooms(truth_dir: Path) -> list[dict[str, Any]]:
    return read_json(Path(truth_dir) / "rooms.json")


def write_truth_frame(
    truth_dir: Path,
    i: int,
    K: np.ndarray,
    cam2world: np.ndarray,
    depth: np.ndarray,
    labels: np.ndarray,
) -> None:
    write_npz(
        truth_frame_path(truth_dir, i),
        K=np.asarray(K, np.float32),
        cam2world=np.asarray(cam2world, np.float32),
        depth=np.asarray(depth, np.float32),
        labels=np.asarray(labels, np.uint8),
    )


def read_truth_frame(truth_dir: Path, i: int) -> dict[str, np.ndarray]:
    """K (3,3), cam2world (4,4), depth (H,W) and labels (H,W) of video frame `i`."""
    path = truth_frame_path(truth_dir, i)
    if not path.exists():
        raise FormatError(f"synthetic truth has no frame {i} ({path})")
    with np.load(path) as z:
        return {k: z[k] for k in ("K", "cam2world", "depth", "labels")}


def truth_folder(truth_dir: Path) -> Path:
    """The truth folder for `truth_dir`: the `ytocc synth` OUT_DIR (its ``truth/``) or it itself."""
    inner = Path(truth_dir) / "truth"
    return inner if (inner / "meta.json").exists() else Path(truth_dir)


def synthetic_truth(cfg: Any, stage: str) -> Path:
    """The truth folder a synthetic-gt backend of `stage` reads (``cfg.truth_dir``), or a StageFailure."""
    if cfg.truth_dir is None:
        raise StageFailure(
            f"{stage} backend synthetic-gt needs truth_dir (the `ytocc synth` output)"
        )
    folder = truth_folder(cfg.truth_dir)
    if not (folder / "shots.json").exists():
        raise StageFailure(f"no synthetic truth at {cfg.truth_dir} (run `ytocc synth OUT_DIR`)")
    return folder
