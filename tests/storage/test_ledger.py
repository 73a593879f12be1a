"""The one done predicate (storage.stages.Ledger): key, upstream runs, outputs, damage.

Issue 14's observed cases 1, 2, 5, 6 and 7 at the level of stages with small bodies that
write real files: each test fails on the marker-says-ok rule of the old code.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from storage.atomic import write_json, write_npz
from storage.config import load_config
from storage.formats import ClipInfo, write_clip_info
from storage.layout import CLIP_STAGES, PathEscape
from storage.markers import StageFailure, read_marker
from storage.stages import Ledger, StageState, UpstreamNotDone, clear_markers, run_item_stage

CLIP = "v-000"


def writer(root, name):
    """A body writing what stage `name` declares (small files), so outputs get recorded."""

    def body():
        d = root.clip_dir(CLIP)
        if name == "frames":
            (d / "frames").mkdir(parents=True, exist_ok=True)
            for k in range(2):
                (d / "frames" / f"{k:04d}.jpg").write_bytes(b"jpg%d" % k)
            write_json(d / "frames" / "index.json", {"video_frames": [0, 1]})
        elif name == "reconstruct":
            write_npz(root.recon_npz(CLIP), a=np.zeros(3))
        elif name == "clean":
            write_npz(root.cloud_npz(CLIP), a=np.zeros(3))
        elif name == "align":
            write_json(root.align_json(CLIP), {"scale": 1.0})
        elif name == "segment":
            for k in range(2):
                write_npz(root.segment_path(CLIP, k), a=np.zeros(3))
        elif name == "voxelize":
            for old in root.occ_dir(CLIP).glob("*.npz"):
                old.unlink()
            for k in range(2):
                write_npz(root.occ_path(CLIP, k), a=np.zeros(3))
        return None

    return body


def build(root, cfg, ran=None):
    """One pass over the stages in graph order, as the build does; returns what ran."""
    ran = [] if ran is None else ran
    ledger = Ledger(root, cfg)
    for name in ("download", "shots"):
        run_item_stage(root, cfg, "v", name, lambda n=name: ran.append(n), ledger=ledger)
    for name in CLIP_STAGES:  # a clip stops at its first stage that is not ok
        body = writer(root, name)
        m = run_item_stage(root, cfg, CLIP, name, lambda b=body, n=name: ran.append(n) or b(),
                           ledger=ledger)  # fmt: skip
        if m.status != "ok":
            break
    return ran


@pytest.fixture
def done(root):
    write_clip_info(root.clip_json(CLIP), ClipInfo(CLIP, "v", 0, 0, 48, 0.0, 2.0, 24.0))
    cfg = load_config()
    build(root, cfg)
    assert all(Ledger(root, cfg).state(CLIP, s).state == "ok" for s in CLIP_STAGES)
    return root, cfg


def test_case1_a_clean_knob_reruns_clean_align_voxelize_never_segment(done) -> None:
    root, _ = done
    changed = load_config(overrides=["clean.conf_threshold=2.5"])
    states = Ledger(root, changed).states(CLIP)
    assert states["clean"].state == "stale" and "parameters" in states["clean"].why
    assert states["segment"].state == "ok" and states["frames"].state == "ok"
    assert build(root, changed) == ["clean", "align", "voxelize"]


def test_case1_another_backends_knob_invalidates_nothing(done) -> None:
    root, _ = done  # built with the default reconstruct backend, dust3r
    other = load_config(overrides=["reconstruct.synthetic_gt.depth_noise=0.3"])
    assert build(root, other) == []
    runtime = load_config(overrides=["reconstruct.dust3r.device=cpu"])
    assert build(root, runtime) == []


def test_case2_a_deleted_output_reruns_its_stage_and_what_reads_it(done) -> None:
    root, cfg = done
    root.recon_npz(CLIP).unlink()
    st = Ledger(root, cfg).state(CLIP, "reconstruct")
    assert st.state == "stale" and st.why == f"output clips/{CLIP}/recon.npz is missing"
    clean = Ledger(root, cfg).state(CLIP, "clean")
    assert clean.state == "stale" and clean.why == "reads reconstruct, which is stale"
    assert build(root, cfg) == ["reconstruct", "clean", "align", "voxelize"]
    assert build(root, cfg) == []


def test_an_upstream_that_reran_with_the_same_key_makes_its_readers_stale(done) -> None:
    root, cfg = done
    run_item_stage(root, cfg, CLIP, "segment", writer(root, "segment"), force=True)
    st = Ledger(root, cfg).state(CLIP, "voxelize")
    assert st.state == "stale" and st.why == "segment re-ran since"
    assert build(root, cfg) == ["voxelize"]


def test_a_changed_output_counts_as_not_done(done) -> None:
    root, cfg = done
    path = root.occ_path(CLIP, 1)
    path.write_bytes(path.read_bytes() + b"x")
    st = Ledger(root, cfg).state(CLIP, "voxelize")
    assert st.state == "stale" and "occ/0001.npz changed since it was written" in st.why


def test_a_rerun_of_a_stage_whose_input_is_gone_waits_for_the_input(done) -> None:
    root, cfg = done
    root.recon_npz(CLIP).unlink()
    with pytest.raises(UpstreamNotDone, match="recon.npz is missing"):
        run_item_stage(root, cfg, CLIP, "clean", writer(root, "clean"), force=True)


@pytest.mark.parametrize("text", ["{\"stage\": \"clean\", \"item\"", "[]", '{"status": "ok"}',
                                  '{"stage": "clean", "item": "v-000", "status": "done"}',
                                  '{"stage": "clean", "item": "v-000", "status": "ok", '
                                  '"outputs": {"x": 3}}'])  # fmt: skip
def test_case5_a_broken_marker_is_not_done_with_a_warning_naming_it(done, capsys, text) -> None:
    root, cfg = done
    path = root.marker(CLIP, "clean")
    path.write_text(text)
    st = Ledger(root, cfg).state(CLIP, "clean")
    assert st.state == "missing" and st.why.startswith("marker ")
    assert f"warning: ignoring marker {path}" in capsys.readouterr().err
    assert read_marker(path) is None
    assert Ledger(root, cfg).state(CLIP, "voxelize").state == "stale"
    assert build(root, cfg) == ["clean", "align", "voxelize"]


def test_case6_folders_that_are_not_ids_are_skipped_with_a_warning(done, capsys) -> None:
    root, _ = done
    (root.clips / "copy of tour").mkdir()
    (root.clips / "copy of tour" / "clip.json").write_text("{}")
    (root.videos / "old backup").mkdir()
    assert root.clip_ids() == [CLIP] and root.video_ids() == ["v"]
    err = capsys.readouterr().err
    assert "warning: skipping" in err and "copy of tour" in err and "old backup" in err


@pytest.mark.parametrize("folder", ["occ", "frames"])
def test_case7_a_symlink_out_of_the_root_fails_the_stage_and_nothing_outside_moves(
    done, tmp_path, folder
) -> None:
    root, cfg = done
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "0000.npz").write_bytes(b"precious")
    (outside / "0000.jpg").write_bytes(b"precious")
    planted = root.clip_dir(CLIP) / folder
    for p in planted.iterdir():
        p.unlink()
    planted.rmdir()
    planted.symlink_to(outside)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}

    ran = build(root, cfg)
    stage = "voxelize" if folder == "occ" else "frames"
    m = read_marker(root.marker(CLIP, stage))
    assert m.status == "failed" and "resolves outside the data root" in m.reason
    assert f"clips/{CLIP}/{folder}" in m.reason and stage not in ran
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    with pytest.raises(PathEscape):
        root.inside(planted / "0000.npz")


def test_a_stages_folder_pointing_out_is_never_written_or_cleared(done, tmp_path) -> None:
    root, cfg = done
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "clean.json").write_text("precious")
    stages = root.clip_dir(CLIP) / "stages"
    for p in stages.iterdir():
        p.unlink()
    stages.rmdir()
    stages.symlink_to(outside)
    assert clear_markers(root, CLIP, ("clean",)) == 0
    m = run_item_stage(root, cfg, CLIP, "frames", writer(root, "frames"), force=True)
    assert m.status == "failed" and "outside the data root" in m.reason
    assert (
        os.listdir(outside) == ["clean.json"] and (outside / "clean.json").read_text() == "precious"
    )


def _fail(root, cfg, item: str, name: str, reason: str) -> None:
    def body():
        raise StageFailure(reason)

    run_item_stage(root, cfg, item, name, body, force=True)


def test_every_state_names_its_item_stage_reason_and_the_marker_it_read(done) -> None:
    """What status, rerun and the report show of a stage: which item, which stage, its state,
    why, and the marker behind it (None when none was read)."""
    root, cfg = done
    ok = Ledger(root, cfg).state(CLIP, "align")
    assert (ok.item, ok.stage, ok.state, ok.done) == (CLIP, "align", "ok", True)
    assert ok.marker == read_marker(root.marker(CLIP, "align"))
    fresh = Ledger(root, cfg).state("w-000", "frames")
    assert fresh == StageState("w-000", "frames", "missing", "not run", None)
    bad = Ledger(root, cfg).state("x y", "frames")  # an id that can be no folder
    assert (bad.item, bad.stage, bad.state, bad.marker) == ("x y", "frames", "missing", None)
    assert bad.why == "id 'x y' is not sanitised (expected 'x_y')"
    changed = Ledger(root, load_config(overrides=["clean.conf_threshold=2.5"])).state(CLIP, "clean")
    assert (changed.item, changed.stage, changed.state) == (CLIP, "clean", "stale")
    assert changed.why == "parameters, backend or code version changed since it ran"
    assert changed.marker == read_marker(root.marker(CLIP, "clean"))
    _fail(root, cfg, CLIP, "clean", "no points left")
    failed = Ledger(root, cfg).state(CLIP, "clean")
    assert (failed.item, failed.stage, failed.state, failed.why) == (
        CLIP, "clean", "failed", "no points left"
    )  # fmt: skip
    assert failed.marker == read_marker(root.marker(CLIP, "clean")) and not failed.done


def test_a_broken_marker_warning_says_what_is_wrong_with_it(done, capsys) -> None:
    root, cfg = done
    path = root.marker(CLIP, "clean")
    path.write_text("{half")
    st = Ledger(root, cfg).state(CLIP, "clean")
    assert (st.item, st.stage, st.state, st.marker) == (CLIP, "clean", "missing", None)
    problem = st.why.removeprefix("marker ")
    assert problem and capsys.readouterr().err == f"warning: ignoring marker {path}: {problem}\n"


def test_a_clip_is_freezable_only_when_every_stage_is_ok(done) -> None:
    """``clip_ok``: what the dataset may freeze and the report counts as finished."""
    root, cfg = done
    assert Ledger(root, cfg).clip_ok(CLIP)
    _fail(root, cfg, CLIP, "voxelize", "empty grid")
    assert not Ledger(root, cfg).clip_ok(CLIP)


def test_clearing_markers_counts_what_it_removed_and_warns_for_a_folder_pointing_out(
    done, tmp_path, capsys
) -> None:
    root, cfg = done
    assert clear_markers(root, CLIP, ("clean", "align")) == 2
    assert read_marker(root.marker(CLIP, "clean")) is None
    assert read_marker(root.marker(CLIP, "voxelize")) is not None  # only those named
    assert clear_markers(root, CLIP, ("clean", "align", "voxelize")) == 1
    outside = tmp_path / "outside"
    outside.mkdir()
    stages = root.video_dir("v") / "stages"
    for p in stages.iterdir():
        p.unlink()
    stages.rmdir()
    stages.symlink_to(outside)
    assert clear_markers(root, "v", ("download",)) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: not clearing {stages / 'download.json'}: ")
    assert "resolves outside the data root" in err


def test_a_stage_made_stale_by_what_it_reads_says_which_and_keeps_its_marker(done) -> None:
    root, cfg = done
    voxelize = read_marker(root.marker(CLIP, "voxelize"))
    (root.occ_path(CLIP, 0)).write_bytes(b"edited")
    st = Ledger(root, cfg).state(CLIP, "voxelize")
    rel = root.relative(root.occ_path(CLIP, 0))
    assert st == StageState(
        CLIP, "voxelize", "stale", f"output {rel} changed since it was written", voxelize
    )
    align = read_marker(root.marker(CLIP, "align"))
    run_item_stage(root, cfg, CLIP, "clean", writer(root, "clean"), force=True)
    st = Ledger(root, cfg).state(CLIP, "align")
    assert st == StageState(CLIP, "align", "stale", "clean re-ran since", align)
    _fail(root, cfg, CLIP, "clean", "no points left")
    st = Ledger(root, cfg).state(CLIP, "align")
    assert st == StageState(CLIP, "align", "stale", "reads clean, which is failed", align)


def test_a_video_has_the_video_stages_and_a_clip_the_clip_stages(done) -> None:
    root, cfg = done
    ledger = Ledger(root, cfg)
    assert tuple(ledger.states("v", "video")) == ("download", "shots")
    assert tuple(ledger.states(CLIP)) == CLIP_STAGES
    assert all(st.item == "v" and st.state == "ok" for st in ledger.states("v", "video").values())


def test_running_a_video_stage_forgets_what_was_known_of_its_clips(done) -> None:
    """The ledger memoises states; re-running a video's stage drops them for the video and
    each of its clips, so the same ledger sees the clips' stages go stale."""
    root, cfg = done
    ledger = Ledger(root, cfg)
    assert ledger.state(CLIP, "frames").state == "ok"
    run_item_stage(root, cfg, "v", "shots", lambda: None, force=True, ledger=ledger)
    assert ledger.state(CLIP, "frames").why == "shots re-ran since"
