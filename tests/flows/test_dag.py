"""Issue 14 end to end on a finished build of the ray-cast room tour (synthetic-gt backends):
what a deleted output, a changed frame count, a smaller grid and a planted symlink do to the
next `build` / `rerun`. Each test works on its own copy of one finished data folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from flows.build import build_flow
from flows.loopback import serve_directory
from flows.rerun import rerun_flow
from storage.config import load_config
from storage.formats import read_sample
from storage.layout import CLIP_STAGES, DataRoot
from storage.manifest import status_table
from storage.markers import read_marker
from storage.plan import noop
from tasks.dataset import DatasetError, freeze
from tests.support.builds import dataset_content, overrides
from tests.support.truth_room import write_room_tour

pytestmark = pytest.mark.slow
DATASET = "demo"


@pytest.fixture(scope="module")
def finished(tmp_path_factory, prefect_harness):
    """(data folder of one finished build, its overrides, its dataset content)."""
    base = tmp_path_factory.mktemp("dag")
    write_room_tour(base / "site", n_frames=36)
    ov = overrides(base / "site" / "truth")
    with serve_directory(base / "site") as url:
        out = build_flow([f"{url}/tour.mp4"], str(base / "data"), None, ov, DATASET)
    assert out["ok"] == 1, out["clips"]
    return base / "data", ov, dataset_content(base / "data", DATASET)


@pytest.fixture
def copy(finished, tmp_path):
    data, ov, content = finished
    shutil.copytree(data, tmp_path / "data", symlinks=True)
    root = DataRoot(tmp_path / "data")
    (clip,) = root.clip_ids()
    return root, clip, ov, content


def stamps(root: DataRoot, clip: str) -> dict[str, int]:
    return {s: root.marker(clip, s).stat().st_mtime_ns for s in CLIP_STAGES}


def rerun_stages(before: dict[str, int], root: DataRoot, clip: str) -> set[str]:
    return {s for s, t in stamps(root, clip).items() if t != before[s]}


def test_case2_a_deleted_recon_is_regenerated_with_what_reads_it(copy) -> None:
    root, clip, ov, content = copy
    before = stamps(root, clip)
    root.recon_npz(clip).unlink()
    out = build_flow([], str(root.root), None, ov, DATASET)
    assert out["ok"] == 1 and root.recon_npz(clip).exists()
    assert rerun_stages(before, root, clip) == {"reconstruct", "clean", "align", "voxelize"}
    assert dataset_content(root.root, DATASET) == content  # seeded: the same samples again
    # the same bytes from new runs: the record follows, so the next build is "nothing to do"
    assert noop(root, load_config(overrides=ov), DATASET) is not None

    root.recon_npz(clip).unlink()  # `rerun --stage clean` first regenerates what clean reads
    out = rerun_flow(str(root.root), None, ov, "clean", [clip], None, DATASET)
    assert out["targets"] == {clip: "clean"} and out["ok"] == 1, out["clips"]
    assert root.recon_npz(clip).exists()


def test_case3_a_frame_count_change_that_breaks_reconstruct_leaves_nothing_stale_counted(
    copy,
) -> None:
    root, clip, ov, content = copy
    broken = [*ov, "frames.per_clip=3", "reconstruct.max_fov_deg=1"]
    out = build_flow([], str(root.root), None, broken, DATASET)  # the report must not crash
    (c,) = out["clips"]
    assert (c["stage"], c["status"]) == ("reconstruct", "failed") and out["report"]
    assert out["dataset"] is None  # nothing is done: nothing frozen over the old dataset
    row = status_table(root, load_config(overrides=broken)).set_index("item").loc[clip]
    assert row["frames"] == "ok" and row["reconstruct"] == "failed"
    assert {row[s] for s in ("clean", "align", "segment", "voxelize")} == {"stale"}
    with pytest.raises(DatasetError, match="nothing to freeze"):
        freeze(root, load_config(overrides=broken), "again")
    with pytest.raises(DatasetError, match="nothing to freeze"):  # the old config: frames stale
        freeze(root, load_config(overrides=ov), "again")

    # the folder keeps the broken build's config (every command starts from its config.yaml):
    # the fix sets the field of view back, as a user would
    fixed = [*ov, "frames.per_clip=3", "reconstruct.max_fov_deg=170"]
    out = build_flow([], str(root.root), None, fixed, DATASET)
    assert out["ok"] == 1, out["clips"]
    assert len(list(root.occ_dir(clip).glob("*.npz"))) == 3
    assert len(dataset_content(root.root, DATASET)) == 3


def test_case9_a_smaller_grid_rebuilds_only_voxelize_end_to_end(copy) -> None:
    root, clip, ov, _ = copy
    before = stamps(root, clip)
    out = build_flow([], str(root.root), None, [*ov, "voxelize.dims=[40,40,24]"], DATASET)
    assert out["ok"] == 1, out["clips"]
    assert rerun_stages(before, root, clip) == {"voxelize"}
    shapes = {read_sample(p)["target"].shape for p in root.occ_dir(clip).glob("*.npz")}
    assert shapes == {(40, 40, 24)}
    frozen = root.dataset_dir(DATASET) / "samples" / clip / "0000.npz"
    assert np.load(frozen)["target"].shape == (40, 40, 24)


def test_case7_rerun_with_occ_linked_out_of_the_root_touches_nothing_outside(
    copy, tmp_path
) -> None:
    root, clip, ov, _ = copy
    outside = tmp_path / "outside"
    shutil.move(root.occ_dir(clip), outside)
    root.occ_dir(clip).symlink_to(outside)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    out = rerun_flow(str(root.root), None, ov, "voxelize", [clip], None, DATASET)
    assert out["clips"][0]["status"] == "failed"
    assert "resolves outside the data root" in read_marker(root.marker(clip, "voxelize")).reason
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def test_status_judges_by_the_last_builds_config_without_being_told(copy) -> None:
    from typer.testing import CliRunner

    from flows.cli import _register, app

    root, clip, _, _ = copy
    _register()
    res = CliRunner().invoke(app, ["status", "--data", str(root.root), "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert {r["item"]: r["voxelize"] for r in rows}[clip] == "ok"
    res = CliRunner().invoke(app, ["status", "--data", str(root.root), "--json", "--set",
                                   "clean.conf_threshold=2"])  # fmt: skip
    rows = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    row = {r["item"]: r for r in rows}[clip]
    assert (row["segment"], row["clean"], row["voxelize"]) == ("ok", "stale", "stale")


def test_every_command_on_the_folder_works_under_its_config_without_being_told(copy) -> None:
    """A new user's case: after a synthetic-gt build, `stage`, `reconstruct`, `build` and
    `doctor` started from the defaults (DUSt3R & co.): a done clip was "blocked", the build and
    reconstruct stopped on missing DUSt3R weights, while `status` said every stage was ok.
    Every command on a data folder now starts from the folder's own config.yaml."""
    from typer.testing import CliRunner

    from flows.cli import _register, app

    root, clip, _, _ = copy
    _register()
    data = ["--data", str(root.root)]

    def run(*args: str):
        res = CliRunner().invoke(app, [*args, *data])
        return res.exit_code, res.output

    for cmd in (["stage", "clean", clip], ["reconstruct", clip]):
        code, out = run(*cmd)
        assert code == 0 and f'"clip": "{clip}", "status": "ok"' in out, (cmd, out)
    code, out = run("build", "--dataset", DATASET)
    assert code == 0 and "nothing to do" in out, out
    code, out = run("config", "show")
    assert "backend: synthetic-gt" in out and "backend: dust3r" not in out, out
    code, out = run("config", "show", "--set", "reconstruct.backend=dust3r")
    assert "backend: dust3r" in out, out  # --set still applies, on top of the folder's config
    code, out = run("doctor")  # the folder's backends need no DUSt3R, Places365, Mask2Former
    assert not [line for line in out.splitlines() if line.startswith("FIX") and any(
        m in line for m in ("DUSt3R", "Places365", "Mask2Former"))], out  # fmt: skip
