"""`make demo` cannot fail by chance: two houses, a split with train and val, nothing redone."""

from __future__ import annotations

import json

import pytest
import yaml

from flows.demo import HOUSES, exit_code, main, print_summary
from tasks.dataset import video_splits
from tasks.sources import video_id_for_url

TINY = ["--rooms", "1", "--seconds-per-room", "3", "--size", "320x180", "--no-train"]


@pytest.mark.parametrize("port", [1, 8000, 41234, 65535])
def test_the_houses_split_into_train_and_val_on_any_port(port: int) -> None:
    # issue 13, case 2: one video's split depended on the port the loopback server got
    ids = [video_id_for_url(f"http://127.0.0.1:{port}/{h.name}/tour.mp4") for h in HOUSES]
    assert len(set(ids)) == len(HOUSES) >= 2
    assert sorted(video_splits(ids, 0.15, 0).values()) == ["train", "val"]


def test_exit_code_is_1_when_a_clip_failed_and_0_when_skipped_with_a_reason() -> None:
    ok = {"clip": "a", "status": "ok"}
    assert exit_code({"clips": [ok, {"clip": "b", "status": "skipped"}]}) == 0
    assert exit_code({"clips": [ok, {"clip": "c", "status": "failed"}]}) == 1


def test_the_summary_prints_the_evaluation_table_and_where_everything_is(tmp_path, capsys):
    """README step 5-6: the demo prints the per-class table and where the summary file is."""
    (tmp_path / "runs").mkdir()
    table = (
        "| Method | IoU | ceiling | mIoU |\n|---|---|---|---|\n| finetune | 12.73 | 75.02 | 13.24 |"
    )
    (tmp_path / "runs" / "eval.md").write_text(table + "\n")
    print_summary({
        "out": str(tmp_path), "clips": [{"clip": "a", "status": "ok"}],
        "counts": {"train": {"samples": 3, "videos": 1}, "val": {"samples": 2, "videos": 1}},
        "evaluation": {"split": "val", "iou": 12.73, "miou": 13.24}, "wall_s": {},
        "dataset": str(tmp_path / "data" / "datasets" / "demo"), "reports": ["r.md"], "ui": "ui",
    })  # fmt: skip
    out = capsys.readouterr().out
    assert table in out and "fine-tuned network on the val split: IoU 12.7  mIoU 13.2" in out
    assert f"summary: {tmp_path / 'demo.json'}" in out and "dataset: " in out


def test_a_tour_made_before_the_truth_binding_is_rendered_again(tmp_path) -> None:
    """render_houses keeps a finished, bound tour and re-renders one whose meta lacks
    video_sha256 (synthetic-gt would refuse it)."""
    import argparse

    from flows.demo import render_houses
    from storage.truth import read_meta, video_sha256, write_meta

    args = argparse.Namespace(rooms=1, seconds_per_room=0.5, size="64x48")
    render_houses(tmp_path, args)
    old, kept = (tmp_path / h.name for h in HOUSES[:2])
    write_meta(old / "truth", {k: v for k, v in read_meta(old / "truth").items()
                               if k != "video_sha256"})  # fmt: skip
    kept_mtime = (kept / "tour.mp4").stat().st_mtime_ns
    render_houses(tmp_path, args)
    assert read_meta(old / "truth")["video_sha256"] == video_sha256(old / "tour.mp4")
    assert (kept / "tour.mp4").stat().st_mtime_ns == kept_mtime  # finished and bound: kept


@pytest.mark.slow
def test_demo_gives_one_dataset_of_two_houses_and_a_second_run_redoes_nothing(
    prefect_harness, tmp_path
) -> None:
    first = main(["--out", str(tmp_path), *TINY])
    assert exit_code(first) == 0, first["clips"]
    counts = first["counts"]
    assert counts["train"]["videos"] == counts["val"]["videos"] == 1  # issue 13, case 2
    assert counts["train"]["samples"] > 0 and counts["val"]["samples"] > 0
    data = tmp_path / "data"
    markers = {p: p.stat().st_mtime_ns for p in data.rglob("stages/*.json")}
    videos = sorted(p.name for p in (data / "videos").iterdir() if p.is_dir())
    assert len(videos) == len(HOUSES)
    # one truth_dir (the folder of both tours) in the data folder's config serves every clip
    kept = yaml.safe_load((data / "config.yaml").read_text())
    assert kept["truth_dir"] == str((tmp_path / "tours").resolve())

    again = main(["--out", str(tmp_path), *TINY])  # a new loopback port
    # issue 13, case 3: the same tours came back under new ids and leaked across the split
    assert sorted(p.name for p in (data / "videos").iterdir() if p.is_dir()) == videos
    assert {p: p.stat().st_mtime_ns for p in data.rglob("stages/*.json")} == markers
    fingerprints = [s["variants"]["data"]["fingerprint"] for s in (first, again)]
    assert fingerprints[0] == fingerprints[1]
    same = [json.dumps(s["quality_vs_truth"], sort_keys=True) for s in (first, again)]  # NaN-safe
    assert same[0] == same[1]
