"""The build flow from a URL to a frozen dataset, with synthetic-gt backends; artifacts published."""

from pathlib import Path

import pytest

from flows.build import build_flow
from flows.loopback import serve_directory
from storage.formats import read_sample
from storage.markers import read_marker
from tests.support.builds import overrides
from tests.support.truth_room import write_room_tour


@pytest.mark.slow
def test_build_turns_a_url_into_a_dataset_and_a_report(prefect_harness, tmp_path, root) -> None:
    site = tmp_path / "site"
    write_room_tour(site, n_frames=36)
    with serve_directory(site) as url:
        out = build_flow(
            [f"{url}/tour.mp4"], str(root.root), None, overrides(site / "truth"), "demo"
        )
    assert out["ok"] == 1, out["clips"]
    (clip,) = root.clip_ids()
    assert read_marker(root.marker(clip, "voxelize")).status == "ok"
    assert read_marker(root.marker(clip, "reconstruct")).backend == "synthetic-gt"
    samples = sorted(root.occ_dir(clip).glob("*.npz"))
    assert len(samples) == 6
    assert (read_sample(samples[0])["target"] == 0).any()
    ds = root.dataset_dir("demo")
    assert (ds / "README.md").exists() and any(ds.glob("*.parquet"))
    report = Path(out["report"]).read_text()
    assert "data:image/png;base64," in report and "| voxelize |" in report

    stamps = {p: p.stat().st_mtime_ns for p in root.root.rglob("stages/*.json")}
    again = build_flow([], str(root.root), None, overrides(site / "truth"), "demo")
    assert again["ok"] == 1
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing re-done
