"""Copies the vendored subset of the ICL-NUIM living room from the full fixture (see SOURCE.txt).

Frames 0, 5, ..., 35 (8 frames, every 5th, ~9 cm apart): rgb, depth, their rows of
poses_gtworld.txt, intrinsics.json. Run: python tests/data/icl_livingroom1_subset/make_subset.py
[FULL_FIXTURE_DIR] (default /work/shared/fixtures/icl_livingroom1).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

FRAMES = range(0, 40, 5)


def main(full: Path, out: Path) -> None:
    for sub in ("rgb", "depth"):
        (out / sub).mkdir(exist_ok=True)
    for i in FRAMES:
        shutil.copyfile(full / "rgb" / f"{i:05d}.jpg", out / "rgb" / f"{i:05d}.jpg")
        shutil.copyfile(full / "depth" / f"{i:05d}.png", out / "depth" / f"{i:05d}.png")
    shutil.copyfile(full / "intrinsics.json", out / "intrinsics.json")
    lines = (full / "poses_gtworld.txt").read_text().splitlines()
    keep = [ln for ln in lines if ln.startswith("#") or int(ln.split()[0]) in FRAMES]
    (out / "poses_gtworld.txt").write_text("\n".join(keep) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/fixtures/icl_livingroom1"),
         Path(__file__).resolve().parent)  # fmt: skip
