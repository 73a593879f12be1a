"""Markers decide resumption: done iff ok and the chained parameter hash matches."""

import errno
import os

import pytest

from storage.atomic import FOLDER_ERROR
from storage.config import load_config
from storage.formats import ClipInfo, write_clip_info
from storage.layout import ALL_STAGES, CLIP_STAGES, downstream_of
from storage.markers import StageFailure, StageSkip, TransientError, read_marker
from storage.stages import UpstreamNotDone, is_done, run_item_stage


def _clip(root, cfg):
    write_clip_info(root.clip_json("v-000"), ClipInfo("v-000", "v", 0, 0, 48, 0.0, 2.0, 24.0))
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, "v", stage, lambda: {"n": 1})


def test_a_done_stage_is_not_run_again_until_its_parameters_change(root) -> None:
    cfg = load_config()
    _clip(root, cfg)
    calls = []
    body = lambda: calls.append(1) or {"frames": 3}  # noqa: E731
    m1 = run_item_stage(root, cfg, "v-000", "frames", body)
    m2 = run_item_stage(root, cfg, "v-000", "frames", body)
    assert m1.status == "ok" and m2.stats == {"frames": 3} and len(calls) == 1
    changed = load_config(overrides=["frames.per_clip=5"])
    assert not is_done(root, changed, "v-000", "frames")
    run_item_stage(root, changed, "v-000", "frames", body)
    assert len(calls) == 2


def test_an_upstream_parameter_change_invalidates_downstream_stages(root) -> None:
    cfg = load_config()
    _clip(root, cfg)
    run_item_stage(root, cfg, "v-000", "frames", lambda: None)
    run_item_stage(root, cfg, "v-000", "indoor", lambda: None)
    assert is_done(root, cfg, "v-000", "indoor")
    new = load_config(overrides=["frames.long_side=320"])
    run_item_stage(root, new, "v-000", "frames", lambda: None)
    assert not is_done(root, new, "v-000", "indoor")


def test_failures_and_skips_end_the_item_with_a_reason(root) -> None:
    cfg = load_config()
    _clip(root, cfg)

    def fails():
        raise StageFailure("no floor found", planes=0)

    m = run_item_stage(root, cfg, "v-000", "frames", fails)
    assert (m.status, m.reason, m.stats) == ("failed", "no floor found", {"planes": 0})
    assert read_marker(root.marker("v-000", "frames")).status == "failed"
    with pytest.raises(UpstreamNotDone, match="frames of v-000"):
        run_item_stage(root, cfg, "v-000", "indoor", lambda: None)

    def skips():
        raise StageSkip("outdoor: 5 of 6 frames")

    assert run_item_stage(root, cfg, "v-000", "frames", skips).status == "skipped"


def test_unexpected_errors_are_recorded_and_raised_transient_ones_leave_no_marker(root) -> None:
    cfg = load_config()
    _clip(root, cfg)
    with pytest.raises(ZeroDivisionError):
        run_item_stage(root, cfg, "v-000", "frames", lambda: 1 / 0)
    m = read_marker(root.marker("v-000", "frames"))
    assert m.status == "failed" and "ZeroDivisionError" in m.reason and m.error

    def flaky():
        raise TransientError("HTTP 503")

    (root.marker("v-000", "frames")).unlink()
    with pytest.raises(TransientError):
        run_item_stage(root, cfg, "v-000", "frames", flaky)
    assert read_marker(root.marker("v-000", "frames")) is None


def test_a_full_disk_ends_the_stage_with_a_folder_reason_instead_of_raising(root) -> None:
    cfg = load_config()
    _clip(root, cfg)

    def full():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/clips/x.npz")

    m = run_item_stage(root, cfg, "v-000", "frames", full)
    assert m.status == "failed" and m.reason.startswith(FOLDER_ERROR)
    assert "No space left" in m.reason and "/data/clips/x.npz" in m.reason
    assert read_marker(root.marker("v-000", "frames")).reason == m.reason

    def missing():  # an OSError of one item, not of the folder: recorded and raised
        raise FileNotFoundError(errno.ENOENT, "gone", "/src/video.mp4")

    with pytest.raises(FileNotFoundError):
        run_item_stage(root, cfg, "v-000", "frames", missing)


# one setting per stage that changes what the stage writes (never a runtime knob)
CHANGES = {
    "download": "download.max_height=480",
    "shots": "shots.min_clip_s=2.0",
    "frames": "frames.per_clip=10",
    "indoor": "indoor.backend=synthetic-gt",
    "reconstruct": "reconstruct.backend=synthetic-gt",
    "clean": "clean.consensus_tolerance=0.1",
    "align": "align.wall_height_m=2.5",
    "segment": "segment.backend=synthetic-gt",
    "voxelize": "voxelize.min_points=3",
}


@pytest.mark.parametrize("stage", ALL_STAGES)
def test_a_changed_section_reruns_its_stage_and_never_the_stages_it_reads(root, stage) -> None:
    """README: "a changed parameter re-runs exactly the stages it affects": a build after a
    change of one section re-runs its stage and the stages that read it (the graph's
    downstream set), never a stage before it nor a sibling branch (segment after clean)."""
    cfg = load_config()
    _clip(root, cfg)
    for s in CLIP_STAGES:
        run_item_stage(root, cfg, "v-000", s, lambda: None)
    changed, ran = load_config(overrides=[CHANGES[stage]]), []
    for s in ALL_STAGES:  # what the next build does, in stage order
        item = "v" if s in ("download", "shots") else "v-000"
        run_item_stage(root, changed, item, s, lambda s=s: ran.append(s))
    assert set(ran) == set(downstream_of(stage)), ran
    assert not set(ran) & set(ALL_STAGES[: ALL_STAGES.index(stage)]), ran


def test_a_stage_before_its_input_is_ok_says_which_input_and_why(root) -> None:
    cfg = load_config()
    write_clip_info(root.clip_json("v-000"), ClipInfo("v-000", "v", 0, 0, 48, 0.0, 2.0, 24.0))
    with pytest.raises(UpstreamNotDone, match=r"^frames of v-000 needs shots of v \(missing\)$"):
        run_item_stage(root, cfg, "v-000", "frames", lambda: None)
    run_item_stage(root, cfg, "v", "download", lambda: None)

    def static():
        raise StageSkip("static video (no motion)")

    run_item_stage(root, cfg, "v", "shots", static)
    with pytest.raises(UpstreamNotDone, match=r"\(skipped: static video \(no motion\)\)$"):
        run_item_stage(root, cfg, "v-000", "frames", lambda: None)
    m = run_item_stage(root, cfg, "v", "download", lambda: None)
    assert (m.stage, m.item) == ("download", "v")


def test_force_reruns_a_done_stage(root) -> None:
    cfg = load_config()
    _clip(root, cfg)
    calls = []
    for force in (False, False, True):
        run_item_stage(root, cfg, "v-000", "frames", lambda: calls.append(1), force=force)
    assert len(calls) == 2
