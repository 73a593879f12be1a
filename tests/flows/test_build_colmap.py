"""`ytocc build` with no model weights at all: COLMAP reconstruction, no indoor filter, no
segmenter (geometry-only samples), on a rendered house tour served over loopback HTTP."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.build import build_flow
from flows.loopback import serve_directory
from storage.formats import OCCUPIED, read_sample
from storage.markers import read_marker
from tasks.synth.tour import TourSpec, make_tour


@pytest.mark.slow  # COLMAP SfM + plane sweep of each clip on CPU: minutes
def test_weight_free_build_gives_geometry_only_samples(prefect_harness, tmp_path, root) -> None:
    site = tmp_path / "site"
    make_tour(site, TourSpec(rooms=1, seconds_per_room=3.0, width=480, height=270, seed=0))
    overrides = ["reconstruct.backend=colmap", "indoor.backend=none", "segment.backend=none",
                 "frames.per_clip=12"]  # fmt: skip
    with serve_directory(site) as url:
        out = build_flow([f"{url}/tour.mp4"], str(root.root), None, overrides, "geo")
    assert out["ok"] >= 1, out["clips"]
    ok = [c["clip"] for c in out["clips"] if c["status"] == "ok"]
    marker = read_marker(root.clip_marker(ok[0], "reconstruct"))
    assert marker.backend == "colmap" and marker.weights is None
    assert marker.stats["registered_frac"] >= 0.9 and marker.stats["dense"] == "plane-sweep"
    assert read_marker(root.clip_marker(ok[0], "indoor")).backend == "none"
    target = read_sample(next(root.occ_dir(ok[0]).glob("*.npz")))["target"]
    assert (target == OCCUPIED).any() and not ((target > 0) & (target <= 11)).any()
    rows = pd.concat(pd.read_parquet(p) for p in root.dataset_dir("geo").glob("*.parquet"))
    assert set(rows.segment_backend) == {"none"} and set(rows.reconstruct_backend) == {"colmap"}
    assert "Geometry-only" in (root.dataset_dir("geo") / "README.md").read_text()
