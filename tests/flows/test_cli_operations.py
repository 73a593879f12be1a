"""`ytocc build` / `status` / `dataset` on damaged or misconfigured data folders (issue 14,
cases 4, 5 and 6): one-line errors with exit code 2 for bad numbers; broken markers and stray
folders are warnings, never tracebacks, and never frozen."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import _register, app
from tests.support.tiny_dataset import build_root

_register()


@pytest.mark.parametrize("override", ["voxelize.voxel_size=0", "frames.per_clip=0",
                                      "frames.per_clip=1", "run.max_workers=0",
                                      "run.gpu_slots=-5", "voxelize.dims=[40,40,-1]"])  # fmt: skip
@pytest.mark.parametrize("command", ["build", "status", "dataset x"])
def test_case4_an_out_of_bounds_number_is_one_line_and_exit_2(root, override, command) -> None:
    res = CliRunner().invoke(app, [*command.split(), "--data", str(root.root), "--set", override])
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith(f"error: config: {override.split('=')[0]}")


@pytest.mark.parametrize("text", ['{"stage": "voxelize", "item', "[]", '{"status": "ok"}'])
def test_case5_broken_markers_are_warned_about_shown_and_not_frozen(root, text) -> None:
    bad, good = build_root(root, {"vidA": 1, "vidB": 1})
    marker = root.marker(bad, "voxelize")
    marker.write_text(text)
    res = CliRunner().invoke(app, ["status", "--data", str(root.root), "--json"])
    assert res.exit_code == 0, res.output
    assert f"ignoring marker {marker}" in res.output  # the warning names the file
    lines = [line for line in res.output.splitlines() if line.startswith("{")]
    rows = {r["item"]: r for r in map(json.loads, lines)}
    assert rows[bad]["voxelize"] == "missing" and rows[bad]["reason"].startswith("voxelize")
    assert rows[good]["voxelize"] == "ok"
    res = CliRunner().invoke(app, ["dataset", "demo", "--data", str(root.root)])
    assert res.exit_code == 0, res.output
    assert "total: 2 samples, 1 clips, 1 videos" in res.output


def test_case6_stray_folders_are_skipped_with_a_warning(root) -> None:
    build_root(root, {"vidA": 1})
    (root.clips / "copy of tour").mkdir()
    (root.clips / "copy of tour" / "clip.json").write_text("{}")
    (root.videos / "old backup").mkdir()
    res = CliRunner().invoke(app, ["status", "--data", str(root.root)])
    assert res.exit_code == 0, res.output
    assert "warning: skipping" in res.output and "'copy of tour' is not a valid id" in res.output
    assert "'old backup' is not a valid id" in res.output  # (once per folder and process)
    res = CliRunner().invoke(app, ["dataset", "demo", "--data", str(root.root)])
    assert res.exit_code == 0, res.output
    assert "total: 2 samples, 1 clips, 1 videos" in res.output


def test_stage_runs_one_clip_stage_by_hand_keeps_done_work_and_redoes_it_with_force(
    root, tmp_path
) -> None:
    """README: `ytocc stage NAME CLIP...` runs one clip stage by hand (upstream must be done)."""
    from storage.config import load_config
    from storage.markers import read_marker
    from tests.support.truth_room import ready_clip, write_truth_room

    truth = tmp_path / "truth"
    write_truth_room(truth, 4)
    sets = [f"truth_dir={truth}", "reconstruct.backend=synthetic-gt", "clean.min_points=50"]
    cid = ready_clip(root, load_config(overrides=sets), truth, 4)
    args = ["--data", str(root.root)] + [a for s in sets for a in ("--set", s)]

    def stage(*names: str) -> tuple[int, list[dict]]:
        res = CliRunner().invoke(app, ["stage", *names, *args])
        rows = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
        return res.exit_code, rows

    code, rows = stage("clean", cid)  # its upstream (reconstruct) is not done: blocked, exit 1
    assert code == 1 and rows[0]["status"] == "blocked" and "reconstruct" in rows[0]["reason"]
    assert not root.marker(cid, "clean").exists()

    code, rows = stage("reconstruct", cid)
    assert (code, rows) == (0, [{"clip": cid, "status": "ok", "reason": ""}])
    first = read_marker(root.marker(cid, "reconstruct"))
    assert root.recon_npz(cid).exists() and first.backend == "synthetic-gt"

    # the marker's outputs hold recon.npz's size and mtime in ns: equal iff it was not rewritten
    assert stage("reconstruct", cid)[0] == 0  # done: kept, not redone
    assert read_marker(root.marker(cid, "reconstruct")).outputs == first.outputs
    assert stage("reconstruct", cid, "--force")[0] == 0  # --force redoes it
    assert read_marker(root.marker(cid, "reconstruct")).outputs != first.outputs
    assert stage("clean", cid)[0] == 0 and read_marker(root.marker(cid, "clean")).status == "ok"


def test_build_says_nothing_to_do_again_after_a_rerun_that_wrote_the_same_bytes(root) -> None:
    """After `stage align CLIP --force` and a build (voxelize re-ran, identical files), every
    later build ran a flow ("0 of N clips have work to do") instead of "nothing to do": the
    freeze found the same content and kept the old run in dataset.json."""
    from storage.config import Config
    from storage.stages import run_item_stage
    from tasks.dataset import freeze

    def build() -> str:
        res = CliRunner().invoke(app, ["build", "--data", str(root.root), "--dataset", "demo"])
        assert res.exit_code == 0, res.output
        return res.output

    clips = build_root(root)
    freeze(root, Config(), "demo")
    assert "nothing to do" in build()
    run_item_stage(root, Config(), clips[0], "voxelize", lambda: None, force=True)
    freeze(root, Config(), "demo", force=True)  # what the build's dataset step does
    assert "nothing to do" in build()


def test_stage_force_with_another_houses_truth_fails_that_clip_and_keeps_its_recon(
    root, tmp_path
) -> None:
    """The reported case by hand: house A's clip re-run with truth_dir = house B's tour is one
    failed row (reason: no truth of its video), A's recon.npz untouched; truth_dir = the folder
    of both tours, as one config for every house, re-runs it with A's truth."""
    from storage.config import load_config
    from storage.formats import read_recon
    from storage.markers import read_marker
    from storage.truth import read_truth_frame, write_truth_frame
    from tests.support.truth_room import ready_clip, write_truth_room

    a, b = tmp_path / "tours" / "house-a" / "truth", tmp_path / "tours" / "house-b" / "truth"
    write_truth_room(a, 4)
    write_truth_room(b, 4)
    t = read_truth_frame(b, 0)
    write_truth_frame(b, 0, t["K"], t["cam2world"], t["depth"] * 2, t["labels"])  # another house
    base = ["reconstruct.backend=synthetic-gt", "clean.min_points=50"]
    cid = ready_clip(root, load_config(overrides=base), a, 4)
    ready_clip(root, load_config(overrides=base), b, 4, video="other", seed=1)

    def stage(truth_dir, *extra: str) -> tuple[int, list[dict]]:
        sets = [f"truth_dir={truth_dir}", *base]
        args = ["stage", "reconstruct", cid, *extra, "--data", str(root.root)]
        res = CliRunner().invoke(app, [*args, *(x for s in sets for x in ("--set", s))])
        return res.exit_code, [
            json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")
        ]

    assert stage(a.parent)[0] == 0
    before = root.recon_npz(cid).read_bytes()
    code, rows = stage(b.parent, "--force")
    assert code == 1 and rows[0]["status"] == "failed"
    assert (
        rows[0]["reason"]
        == f"no synthetic truth under {b.parent} is of video videos/room/video.mp4"
    )
    assert read_marker(root.marker(cid, "reconstruct")).status == "failed"
    assert root.recon_npz(cid).read_bytes() == before
    kept = read_recon(root.recon_npz(cid))
    assert stage(tmp_path / "tours", "--force")[0] == 0
    again = read_recon(root.recon_npz(cid))
    for key in ("cam2world", "depth"):  # A's truth, A's seed: the same arrays
        assert (again[key] == kept[key]).all(), key
