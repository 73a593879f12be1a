"""`ytocc build` end to end in a subprocess: its overrides, arguments, and the frozen dataset."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from storage.atomic import TMP_PREFIX
from storage.layout import DataRoot
from tests.support.processes import base_env, ytocc

DATASET = "ytocc"
REPO = Path(__file__).resolve().parents[2]


def overrides(truth: Path) -> list[str]:
    """Build config for a ray-cast room tour: synthetic-gt model stages, small clips."""
    return [f"truth_dir={truth}", "reconstruct.backend=synthetic-gt", "indoor.backend=synthetic-gt",
            "segment.backend=synthetic-gt", "frames.per_clip=6", "clean.min_points=300",
            "shots.min_clip_s=0.5"]  # fmt: skip


def set_args(ov: list[str]) -> list[str]:
    """`--set k=v` options for each override."""
    return [a for o in ov for a in ("--set", o)]


def build_args(url: str | None, data: Path, ov: list[str]) -> list[str]:
    """`build [URL] --data DATA --set ...`."""
    return ["build", *([url] if url else []), "--data", str(data), *set_args(ov)]


def run_ytocc(
    args: list[str],
    api: str | None,
    home: Path,
    timeout: float = 300,
    fault: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `ytocc ARGS` to the end (own Prefect home, the given server or ephemeral).

    `fault` runs it under a disk fault of ``tests.support.faults`` (e.g. ``["read-only", DIR]``).
    """
    home.mkdir(parents=True, exist_ok=True)
    cmd = ytocc(*args)
    if fault:
        cmd = [sys.executable, "-m", "tests.support.faults", *fault, "--", *cmd]
    return subprocess.run(cmd, env=base_env(home, api), capture_output=True, text=True,
                          timeout=timeout, start_new_session=True, cwd=REPO)  # fmt: skip


def dataset_content(data: Path, name: str = DATASET) -> dict[str, tuple[str, bytes]]:
    """Sample id → (split, sha256 of its target array) of the frozen dataset."""
    ds = DataRoot(data).dataset_dir(name)
    out = {}
    for split in ("train", "val"):
        df = pd.read_parquet(ds / f"{split}.parquet")
        for sid, rel in zip(df.sample_id, df.sample_path, strict=True):
            assert TMP_PREFIX not in rel, rel
            target = np.load(ds / rel)["target"]
            out[sid] = (split, hashlib.sha256(target.tobytes()).digest())
    return out
