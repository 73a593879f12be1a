"""`rerun` restarts exactly the failed stage and what follows it, from the data folder alone."""

from functools import partial

import pytest

from flows.build import build_flow
from flows.loopback import serve_directory
from flows.rerun import rerun_flow, rerun_targets
from storage.config import AlignConfig, Config, load_config
from storage.markers import read_marker
from tests.support.builds import overrides
from tests.support.truth_room import write_room_tour

GRAVITY_DEFAULT = AlignConfig().gravity_max_angle_deg


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

    # rerun starts from the last build's config (DATA/config.yaml); the fix is given on top
    fix = [*overrides(site / "truth"), f"align.gravity_max_angle_deg={GRAVITY_DEFAULT}"]
    out = rerun_flow(str(root.root), None, fix, dataset="demo")  # server gone
    assert out["targets"] == {clip: "align"} and out["ok"] == 1
    assert root.marker(clip, "reconstruct").stat().st_mtime_ns == recon_before
    assert read_marker(root.marker(clip, "voxelize")).status == "ok"
    fixed = load_config(overrides=fix)
    assert rerun_targets(root, fixed) == {}
    assert rerun_targets(root, fixed, "segment") == {clip: "segment"}


def fail(reason: str) -> None:
    from storage.markers import StageFailure

    raise StageFailure(reason)


def _markers(root, plan: dict[str, tuple[str, str]]) -> None:
    """Clips of one video whose stages ran ok up to a stage that ended (status, reason)."""
    from storage.config import Config
    from storage.formats import ClipInfo, write_clip_info
    from storage.layout import CLIP_STAGES
    from storage.stages import run_item_stage

    cfg = Config()
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, "v", stage, lambda: None)
    for shot, (clip, (last, reason)) in enumerate(plan.items()):
        write_clip_info(root.clip_json(clip), ClipInfo(clip, "v", shot, 0, 48, 0.0, 2.0, 24.0))
        for stage in CLIP_STAGES:
            if stage == last and reason:
                run_item_stage(root, cfg, clip, stage, partial(fail, reason))
                break
            run_item_stage(root, cfg, clip, stage, lambda: None)


def test_rerun_targets_follow_stage_clip_and_reason(root) -> None:
    """README: `ytocc rerun` restarts each failed item at its failed stage; `--stage S` re-runs S
    for every clip that got there; `--reason TEXT` only those failures; `--clip ID` that clip."""
    _markers(root, {"v-000": ("align", "no floor found"), "v-001": ("clean", "too few points"),
                    "v-002": ("voxelize", "")})  # fmt: skip
    assert rerun_targets(root, Config()) == {"v-000": "align", "v-001": "clean"}
    assert rerun_targets(root, Config(), reason="no floor") == {"v-000": "align"}
    assert rerun_targets(root, Config(), clips=["v-001"]) == {"v-001": "clean"}
    assert rerun_targets(root, Config(), "reconstruct") == {
        c: "reconstruct" for c in ("v-000", "v-001", "v-002")
    }
    assert rerun_targets(root, Config(), "align") == {"v-000": "align", "v-002": "align"}
    with pytest.raises(ValueError, match="unknown stage"):
        rerun_targets(root, Config(), "polish")
