"""`rerun` restarts exactly the failed stage and what follows it, from the data folder alone."""

import pytest

from flows.build import build_flow
from flows.loopback import serve_directory
from flows.rerun import rerun_flow, rerun_targets
from storage.config import load_config
from storage.markers import read_marker
from tests.support.builds import overrides
from tests.support.truth_room import write_room_tour


@pytest.mark.slow
def test_failed_align_is_rerun_after_a_config_fix(prefect_harness, tmp_path, root) -> None:
    site = tmp_path / "site"
    write_room_tour(site, n_frames=36)
    broken = [*overrides(site / "truth"), "align.gravity_max_angle_deg=0.001"]
    with serve_directory(site) as url:
        first = build_flow([f"{url}/tour.mp4"], str(root.root), None, broken, None)
    (clip,) = root.clip_ids()
    assert first["clips"][0]["stage"] == "align" and first["clips"][0]["status"] == "failed"
    assert rerun_targets(root, load_config(overrides=broken)) == {clip: "align"}
    recon_before = root.marker(clip, "reconstruct").stat().st_mtime_ns

    out = rerun_flow(str(root.root), None, overrides(site / "truth"), dataset="demo")  # server gone
    assert out["targets"] == {clip: "align"} and out["ok"] == 1
    assert root.marker(clip, "reconstruct").stat().st_mtime_ns == recon_before
    assert read_marker(root.marker(clip, "voxelize")).status == "ok"
    fixed = load_config(overrides=overrides(site / "truth"))
    assert rerun_targets(root, fixed) == {}
    assert rerun_targets(root, fixed, "segment") == {clip: "segment"}
