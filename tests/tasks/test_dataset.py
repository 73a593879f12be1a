"""Freezing datasets: split by video, self-contained folder, card, refusal, bad samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from storage.atomic import read_json, write_json
from storage.config import GRID_DIMS, Config
from storage.dataset_schema import HIST_COLUMNS, SAMPLES
from storage.formats import read_sample, write_sample
from storage.markers import Marker, write_marker
from storage.schemas import read_table
from storage.stages import run_item_stage
from tasks.dataset import DatasetError, class_histogram, freeze, gather_samples, video_splits
from tests.support.tiny_dataset import align_provenance, build_clip, build_root, room_grid


def _rows(path) -> pd.DataFrame:
    return pd.concat(
        [read_table(path / f"{s}.parquet", SAMPLES).assign(split=s) for s in ("train", "val")]
    )


def test_freeze_splits_by_video_and_is_self_contained(root):
    clips = build_root(root, {"vidA": 2, "vidB": 1, "vidC": 1, "vidD": 1})
    summary = freeze(root, Config(), "demo")
    rows = _rows(summary.path)
    assert len(rows) == 2 * len(clips)
    assert rows.groupby("video_id").split.nunique().max() == 1  # no video in both splits
    assert set(rows.split) == {"train", "val"}
    for col in ("sample_path", "frame_path", "segment_path"):
        assert all((summary.path / p).is_file() for p in rows[col])
    first = rows.iloc[0]
    frozen = read_sample(summary.path / first.sample_path)
    source = read_sample(root.occ_path(first.clip_id, int(first.k)))
    np.testing.assert_array_equal(frozen["target"], source["target"])
    assert (rows[list(HIST_COLUMNS)].sum(axis=1) == np.prod(GRID_DIMS)).all()
    assert set(rows.segment_backend) == {"synthetic-gt"}
    assert summary.counts["total"] == {"videos": 4, "clips": 5, "samples": 10}


def test_dataset_card_reports_counts_histogram_and_backends(root):
    build_root(root)
    summary = freeze(root, Config(), "demo")
    card = (summary.path / "README.md").read_text()
    hist = _rows(summary.path)[list(HIST_COLUMNS)].sum()
    assert f"| 2 | floor | {hist['n_floor']} |" in card
    assert "| segment | synthetic-gt | synthetic-gt-weights | 8 |" in card
    assert "| total | 3 | 4 | 8 |" in card
    assert "val_fraction: 0.15" in card


def test_class_histogram_counts_free_classes_and_unknown():
    grid = room_grid(3)
    hist = class_histogram(grid)
    assert hist.sum() == grid.size
    assert hist[0] == (grid == 0).sum() and hist[-1] == (grid == 255).sum()
    assert hist[5] == (grid == 5).sum()


def test_video_split_is_deterministic_stable_and_seeded():
    videos = [f"v{i}" for i in range(200)]
    a = video_splits(videos, 0.15, seed=0)
    assert a == video_splits(list(reversed(videos)), 0.15, seed=0)
    # 200 seeded hash draws at 0.15: σ ≈ 0.025, so ±0.07 is ≈ 2.8σ (deterministic, never flaky);
    # a split ignoring the fraction (0, 0.5, 1) lands far outside
    assert 0.08 < sum(s == "val" for s in a.values()) / len(a) < 0.22
    more = video_splits(videos + [f"w{i}" for i in range(50)], 0.15, seed=0)
    assert all(more[v] == a[v] for v in videos)  # adding videos moves none
    assert video_splits(videos, 0.15, seed=1) != a


def test_video_split_keeps_both_splits_non_empty():
    assert sorted(video_splits(["a", "b"], 0.01).values()) == ["train", "val"]
    assert sorted(video_splits(["a", "b"], 0.99).values()) == ["train", "val"]
    assert set(video_splits(["a", "b"], 0.0).values()) == {"train"}
    with pytest.raises(DatasetError, match="not in"):
        video_splits(["a"], 1.5)


def test_refreeze_same_content_is_noop_and_other_content_needs_force(root):
    build_root(root)
    first = freeze(root, Config(), "demo")
    again = freeze(root, Config(), "demo")
    assert not again.created and again.fingerprint == first.fingerprint
    build_clip(root, "vidE", 0)
    with pytest.raises(DatasetError, match="--force"):
        freeze(root, Config(), "demo")
    assert len(_rows(first.path)) == 8  # the refused freeze changed nothing
    replaced = freeze(root, Config(), "demo", force=True)
    assert replaced.created and replaced.fingerprint != first.fingerprint
    assert len(_rows(replaced.path)) == 10
    assert not [p for p in root.datasets.iterdir() if p.name != "demo"]  # no temp folders left


def test_frozen_files_do_not_change_when_sources_are_rewritten(root):
    cid = build_root(root, {"vidA": 1})[0]
    summary = freeze(root, Config(), "demo")
    before = read_sample(summary.path / f"samples/{cid}/0000.npz")["target"]
    sample = read_sample(root.occ_path(cid, 0))
    write_sample(
        root.occ_path(cid, 0),
        **(sample | {"target": np.zeros(GRID_DIMS, np.uint8), "dims": GRID_DIMS}),
    )
    after = read_sample(summary.path / f"samples/{cid}/0000.npz")["target"]
    np.testing.assert_array_equal(before, after)


def test_only_clips_with_ok_voxelize_are_frozen(root):
    ok, failed = build_root(root, {"vidA": 1, "vidB": 1})
    write_marker(
        root.clip_marker(failed, "voxelize"), Marker("voxelize", failed, "failed", "no points")
    )
    rows = _rows(freeze(root, Config(), "demo").path)
    assert set(rows.clip_id) == {ok}


def test_a_clip_whose_outputs_changed_is_stale_and_left_out_with_reason(root):
    cid, other = build_root(root, {"vidA": 1, "vidB": 1})
    path = root.occ_path(cid, 1)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    summary = freeze(root, Config(), "demo")
    assert set(_rows(summary.path).clip_id) == {other}
    (line,) = summary.skipped
    assert line.startswith(f"{cid}: voxelize is stale") and "0001.npz changed" in line
    root.frame_path(other, 0).unlink()  # a frame gone: frames, and all that reads it, not done
    rows, skipped = gather_samples(root, Config())
    assert rows.empty
    assert f"{other}: frames is stale (output clips/{other}/frames/0000.jpg is missing)" in skipped


def test_unreadable_sample_of_a_done_clip_is_left_out_with_reason(root):
    cid = build_root(root, {"vidA": 1, "vidB": 1})[0]
    path = root.occ_path(cid, 1)
    path.write_bytes(path.read_bytes()[:100])  # truncated, then recorded by a voxelize run
    run_item_stage(root, Config(), cid, "voxelize", lambda: None, force=True)
    summary = freeze(root, Config(), "demo")
    assert len(_rows(summary.path)) == 3
    assert any(s.startswith(f"{cid}-0001:") and "unreadable npz" in s for s in summary.skipped)
    assert "Left out (1)" in (summary.path / "README.md").read_text()


def test_sample_pointing_outside_the_root_is_left_out(root):
    cid = build_root(root, {"vidA": 1}, frames=1)[0]
    sample = read_sample(root.occ_path(cid, 0))
    write_sample(
        root.occ_path(cid, 0), **(sample | {"frame": "../../etc/passwd", "dims": GRID_DIMS})
    )
    run_item_stage(root, Config(), cid, "voxelize", lambda: None, force=True)
    with pytest.raises(DatasetError, match="outside the data root"):
        freeze(root, Config(), "demo")


def test_empty_root_refuses_with_reason(root):
    with pytest.raises(DatasetError, match="nothing to freeze"):
        freeze(root, Config(), "demo")


def test_freeze_reports_progress_per_clip(root):
    build_root(root)
    seen: list[tuple[int, int]] = []
    freeze(root, Config(), "demo", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_interrupted_freeze_leaves_old_dataset_and_no_temp(root, monkeypatch):
    import tasks.dataset as dataset

    build_root(root)
    first = freeze(root, Config(), "demo")
    build_clip(root, "vidE", 0)
    calls = []

    def dying_place(src, dst):
        calls.append(dst)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real_place(src, dst)

    real_place = dataset._place
    monkeypatch.setattr(dataset, "_place", dying_place)
    with pytest.raises(KeyboardInterrupt):
        freeze(root, Config(), "demo", force=True)
    assert sorted(p.name for p in root.datasets.iterdir()) == ["demo"]
    assert len(_rows(first.path)) == 8


def test_a_dataset_is_frozen_by_one_writer_at_a_time(root, monkeypatch):
    """README: "a dataset is frozen by one writer at a time": two builds finishing together
    freeze it once; the second waits, then finds the same content frozen."""
    import threading
    import time

    import tasks.dataset as dataset

    build_root(root)
    inside, most, guard = [0], [0], threading.Lock()
    real_write = dataset._write_folder

    def slow_write(*args, **kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.5)  # long enough for the other writer to arrive while this one writes
        try:
            return real_write(*args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(dataset, "_write_folder", slow_write)
    results: list = []
    writers = [
        threading.Thread(target=lambda: results.append(freeze(root, Config(), "demo")))
        for _ in range(2)
    ]
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=60)
    assert most[0] == 1
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].fingerprint == results[1].fingerprint
    assert sorted(p.name for p in root.datasets.iterdir()) == ["demo"]
    assert len(_rows(root.dataset_dir("demo"))) == 8
    assert not list(root.locks.rglob("*.lock"))


def test_samples_frames_and_segments_are_hard_linked_in(root):
    """README: "the samples, frames and segments hard-linked in" (no copy on one file system)."""
    import os

    build_root(root)
    summary = freeze(root, Config(), "demo")
    rows = _rows(summary.path)
    for col in ("sample_path", "frame_path", "segment_path"):
        for rel in rows[col]:
            frozen = summary.path / rel
            assert frozen.stat().st_nlink >= 2, frozen
    first = rows.iloc[0]
    assert os.path.samefile(
        summary.path / first.sample_path, root.occ_path(first.clip_id, int(first.k))
    )


SCALES = ["ceiling", "wall-top", "camera-height", "ceiling-glimpse", None]


def _with_scales(root) -> list[str]:
    clips = build_root(root, {"vidA": 2, "vidB": 2, "vidC": 1})
    for cid, method in zip(clips, SCALES, strict=True):
        align_provenance(root, cid, method)
    return clips


def test_scale_provenance_reaches_the_parquet_the_card_and_dataset_json(root):
    clips = _with_scales(root)
    summary = freeze(root, Config(), "all")
    rows = _rows(summary.path).drop_duplicates("clip_id").set_index("clip_id")
    want = {"ceiling": "measured", "ceiling-glimpse": "measured", "wall-top": "assumed",
            "camera-height": "assumed", None: "unknown"}  # fmt: skip
    for cid, method in zip(clips, SCALES, strict=True):
        assert rows.scale_source[cid] == want[method]
        got = rows.scale_method[cid]
        assert (got if isinstance(got, str) else None) == method  # null when unknown
    card = (summary.path / "README.md").read_text()
    assert (
        "| assumed | camera-height | 1 | 2 |" in card and "| measured | ceiling | 1 | 2 |" in card
    )
    assert "| unknown | - | 1 | 2 |" in card
    meta = read_json(summary.path / "dataset.json")
    assert meta["scale_sources"] == {"measured": 2, "assumed": 2, "unknown": 1}


def test_require_measured_scale_leaves_assumed_and_unknown_clips_out_with_reasons(root):
    clips = _with_scales(root)
    summary = freeze(root, Config(), "measured", require_measured_scale=True)
    rows = _rows(summary.path)
    assert set(rows.clip_id) == {clips[0], clips[3]} and set(rows.scale_source) == {"measured"}
    out = {line.split(":")[0]: line for line in summary.skipped}
    assert set(out) == {clips[1], clips[2], clips[4]}
    assert "scale assumed (wall-top)" in out[clips[1]] and "scale unknown" in out[clips[4]]
    assert "Left out (3)" in (summary.path / "README.md").read_text()


def test_old_align_reports_are_read_for_provenance(root):
    """A clip aligned before provenance was recorded: its align.json's method still tells."""
    clips = build_root(root, {"vidA": 1})
    align_provenance(root, clips[0], None)
    write_json(root.align_json(clips[0]), {"method": "floor+wall-top", "scale": 1.0})
    rows = _rows(freeze(root, Config(), "old").path)
    assert set(rows.scale_source) == {"assumed"} and set(rows.scale_method) == {"wall-top"}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_frozen_dataset_folder_gets_the_mode_mkdir_would_give_it(root, umask):
    """The folder was built by mkdtemp (0o700) and renamed in: `datasets/demo` was drwx------
    under umask 0022 while its subfolders were 0o755. A replacing freeze (--force) too."""
    import os
    import stat

    build_root(root)
    old = os.umask(umask)
    try:
        first = freeze(root, Config(), "demo")
        first_mode = stat.S_IMODE(first.path.stat().st_mode)
        build_clip(root, "vidE", 0)
        replaced = freeze(root, Config(), "demo", force=True)
        plain = root.datasets / "plain"
        plain.mkdir()
    finally:
        os.umask(old)
    want = stat.S_IMODE(plain.stat().st_mode)
    assert want == 0o777 & ~umask
    assert first_mode == want and replaced.created
    assert stat.S_IMODE(replaced.path.stat().st_mode) == want
    assert stat.S_IMODE((replaced.path / "samples").stat().st_mode) == want


def test_a_rerun_that_wrote_the_same_bytes_brings_the_record_up_to_date(root):
    """`ytocc stage align CLIP --force` then build: voxelize re-ran and wrote identical files,
    the freeze said "unchanged" but kept the old run in dataset.json, so the dataset never
    counted as current again and every later build ran a flow instead of "nothing to do"."""
    from storage.plan import dataset_current

    cfg = Config()
    clips = build_root(root)
    first = freeze(root, cfg, "demo")
    before = read_json(first.path / "dataset.json")
    assert dataset_current(root, cfg, "demo")
    run_item_stage(root, cfg, clips[0], "voxelize", lambda: None, force=True)  # same bytes
    assert not dataset_current(root, cfg, "demo")  # a new run: the record is behind
    again = freeze(root, cfg, "demo")
    assert not again.created and again.refreshed and again.fingerprint == first.fingerprint
    after = read_json(first.path / "dataset.json")
    assert after["sources"][clips[0]] != before["sources"][clips[0]]
    assert after["frozen_at"] == before["frozen_at"]  # the content was frozen then
    assert dataset_current(root, cfg, "demo")
    assert not freeze(root, cfg, "demo").refreshed  # nothing left to bring up to date


def test_same_split_under_other_split_settings_brings_the_record_up_to_date(root):
    """A val fraction (or seed) that splits the videos the same way freezes the same content;
    the record must say the settings it was frozen under, or the dataset is never current."""
    from storage.plan import dataset_current

    build_root(root)
    first = freeze(root, Config(), "demo")
    cfg = Config()
    cfg.dataset.val_fraction = 0.16
    assert video_splits(["vidA", "vidB", "vidC"], 0.16) == video_splits(
        ["vidA", "vidB", "vidC"], 0.15
    )  # the premise: these three videos split alike at 0.15 and 0.16
    assert not dataset_current(root, cfg, "demo")
    again = freeze(root, cfg, "demo")
    assert again.fingerprint == first.fingerprint and again.refreshed
    assert read_json(again.path / "dataset.json")["val_fraction"] == 0.16
    assert "val_fraction: 0.16" in (again.path / "README.md").read_text()
    assert dataset_current(root, cfg, "demo")


@pytest.mark.parametrize(
    ("videos", "fraction", "empty"),
    [({"vidA": 1, "vidB": 1}, 1.0, ["train"]), ({"vidA": 1, "vidB": 1}, 0.0, ["val"]),
     ({"vidA": 2}, 0.15, ["val"]), ({"vidA": 1, "vidB": 1}, 0.5, [])],
)  # fmt: skip
def test_a_split_left_empty_is_named(root, videos, fraction, empty):
    """`--val-fraction 1.0` froze a train split of 0 samples without a word."""
    build_root(root, videos)
    cfg = Config()
    cfg.dataset.val_fraction = fraction
    summary = freeze(root, cfg, "demo")
    n = len(videos)
    assert summary.empty_splits == [
        f"the {s} split is empty (val_fraction {fraction}, {n} video{'s' * (n != 1)})"
        for s in empty
    ]
    assert freeze(root, cfg, "demo").empty_splits == summary.empty_splits  # unchanged: still said
