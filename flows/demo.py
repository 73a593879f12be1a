"""`make demo`: the whole pipeline on two synthetic houses, offline, on CPU.

synth two house tours → serve them on a loopback HTTP server → one `build` per house (yt-dlp
download, shots, frames, then synthetic-gt reconstruct/indoor/segment, real clean/align/voxelize;
one truth_dir, the folder of both tours, from which synthetic-gt picks each clip's truth by its
video's SHA-256) → one dataset split by video (two videos:
train and val are never empty) → how close the samples are to the true grids → a short CPU
pretraining (DINOv2 with *random* weights: the real ones cannot be downloaded here) and
fine-tuning → evaluation on the val split → where everything is.

Deterministic: the tours have fixed seeds, and video ids (hence clip ids, the synthetic-gt seeds
and the split) do not depend on the loopback port (``storage.ids.url_identity``), so every run
gives the same dataset and a second run in the same folder redoes nothing (markers, the frozen
dataset's fingerprint and the training checkpoints say it is done). Other backends extend the
demo by adding a :class:`Variant` to ``VARIANTS`` (its own data folder and overrides).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SYNTHETIC_GT = ("reconstruct", "indoor", "segment")
TINY_NET = {"enc_widths": [16, 32], "lift_dim": 16, "unet_widths": [16, 32]}
DATASET = "demo"


@dataclass(frozen=True)
class House:
    """One synthetic house: its name (folder and URL path) and the seed of its rooms."""

    name: str
    seed: int


HOUSES = (House("house-a", 0), House("house-b", 1))
"""Two houses, two videos: the split by video puts one in train and one in val."""


@dataclass(frozen=True)
class Variant:
    """A way to build the houses: a data folder of its own and config overrides."""

    name: str
    overrides: tuple[str, ...] = field(default=())


VARIANTS = (
    Variant("data"),
    Variant("colmap", ("reconstruct.backend=colmap",)),
)
"""The first variant is the one trained and evaluated on (synthetic-gt reconstruct: the
reference); ``colmap`` reconstructs the same videos with COLMAP (a real algorithm, no weights),
with every other setting at its default."""


def pipeline_overrides(truth: Path) -> list[str]:
    """Config for the offline demo: synthetic-gt model stages, everything else real.

    `truth` is one tour or the folder of every house's tour (the demo passes the latter, so the
    data folder's config.yaml serves each clip: synthetic-gt picks the truth of the clip's video).
    """
    return [f"truth_dir={truth}", *(f"{s}.backend=synthetic-gt" for s in SYNTHETIC_GT)]


def render_houses(tours: Path, args: argparse.Namespace) -> None:
    """Render each house's tour (video + truth) unless a finished one, bound to its video, is there
    (a tour made before the truth recorded ``video_sha256`` is rendered again)."""
    from storage.truth import read_meta
    from tasks.synth.tour import TourSpec, make_tour

    w, h = (int(v) for v in args.size.split("x"))
    for house in HOUSES:
        folder = tours / house.name
        truth = folder / "truth"
        if not ((truth / "meta.json").exists() and "video_sha256" in read_meta(truth)):
            make_tour(folder, TourSpec(args.rooms, args.seconds_per_room, w, h, 24, house.seed))


def build_houses(tours: Path, data: Path, variant: Variant) -> dict[str, Any]:
    """One build per house into `data`, all with truth_dir = `tours`; then one dataset of both.

    Returns per house its video id, truth folder, clips' outcomes and report; the dataset path,
    fingerprint and split counts.
    """
    from flows.build import build_flow
    from flows.loopback import serve_directory
    from storage.config import load_config
    from storage.layout import DataRoot
    from tasks.dataset import freeze
    from tasks.sources import video_id_for_url

    houses: dict[str, dict[str, Any]] = {}
    with serve_directory(tours) as url:
        for house in HOUSES:
            source = f"{url}/{house.name}/tour.mp4"
            truth = tours / house.name / "truth"
            overrides = [*pipeline_overrides(tours), *variant.overrides]
            built = build_flow([source], str(data), None, overrides, None)
            houses[house.name] = {"video": video_id_for_url(source), "truth": str(truth),
                                  "clips": built["clips"], "report": built["report"]}  # fmt: skip
    # the builds' backends, so the done predicate sees their keys (truth_dir is in no key)
    cfg = load_config(None, [*pipeline_overrides(tours), *variant.overrides], data)
    frozen = freeze(DataRoot.at(data), cfg, DATASET, force=True)
    return {
        "houses": houses,
        "clips": [c for h in houses.values() for c in h["clips"]],
        "reports": [h["report"] for h in houses.values()],
        "dataset": str(frozen.path),
        "fingerprint": frozen.fingerprint,
        "counts": frozen.counts,
    }


def truth_quality(dataset: Path, data: Path, truths: dict[str, Path]) -> dict[str, Any]:
    """IoU/mIoU of the dataset's samples against their house's true grids (`truths`: video id →
    truth folder; storage/metrics convention)."""
    import pandas as pd

    from models.metrics import SSCMetrics
    from storage.atomic import read_json
    from storage.formats import UNKNOWN, read_sample
    from storage.layout import DataRoot
    from tasks.synth.occupancy import truth_occupancy

    root = DataRoot(data)
    metrics = SSCMetrics(average="present")  # fidelity on the classes the tour holds
    rows = pd.concat([pd.read_parquet(p) for p in sorted(dataset.glob("*.parquet"))])
    for (video, clip), group in rows.groupby(["video_id", "clip_id"]):
        frames = read_json(root.frames_index(clip))["video_frames"]
        total = world_from_truth(root, clip, truths[video], frames)
        for k in group.k:
            s = read_sample(root.occ_path(clip, int(k)))
            true = truth_occupancy(
                truths[video], frames[int(k)], s["voxel_origin"], world_from_truth=total
            )
            metrics.add(np.where(s["target"] == UNKNOWN, 0, s["target"]), true)
    return metrics.summary()


def world_from_truth(root: Any, clip: str, truth: Path, frames: list[int]) -> np.ndarray:
    """The similarity truth world → the clip's aligned world: align's similarity after the one a
    synthetic-gt reconstruction stores, or, for a real reconstruction (COLMAP), fitted to the
    aligned and true camera poses of its registered frames."""
    from models.recon_metrics import similarity_from_poses
    from storage.atomic import read_json
    from storage.formats import apply_to_poses, read_recon, similarity_matrix
    from storage.truth import read_truth_frame, truth_folder

    report = read_json(root.align_json(clip))
    recon = read_recon(root.recon_npz(clip))
    if "similarity" in recon:
        return similarity_matrix(report) @ recon["similarity"]
    reg = recon.get("registered", np.ones(len(frames), bool)).astype(bool)
    poses = apply_to_poses(report, recon["cam2world"])
    folder = truth_folder(truth)
    true = np.stack([read_truth_frame(folder, f)["cam2world"] for f in frames])
    return similarity_from_poses(poses[reg], true[reg])


def train_and_evaluate(dataset: Path, out: Path, epochs: tuple[int, int]) -> dict[str, Any]:
    """Pretrain (random-weight DINOv2) and fine-tune on the train split, evaluate on val."""
    from flows.train import evaluate_flow, finetune_flow, pretrain_flow
    from models.embed import save_random_dinov2
    from storage.config import TrainConfig

    dino = out / "weights" / "dinov2-random"
    if not (dino / "config.json").exists():
        save_random_dinov2(dino, hidden_size=32, layers=2, image_size=112)
    base = dict(device="cpu", embed_weights=str(dino), net_args=TINY_NET, embed_input_size=112,
                batch_size=2, image_hw=(180, 320))  # fmt: skip
    pre = pretrain_flow(str(dataset), str(out / "pretrain"), TrainConfig(**base, epochs=epochs[0]))
    fine = finetune_flow(
        str(dataset), str(out / "finetune"), TrainConfig(**base, epochs=epochs[1]), init=pre
    )
    summary = evaluate_flow(fine, str(dataset), str(out / "eval.json"), TrainConfig(**base))
    return summary | {"split": "val"}


def ui_hint() -> str:
    api = os.environ.get("PREFECT_API_URL")
    if api:
        return api.removesuffix("/api") + "/runs"
    return "runs were ephemeral: start `make ui`, then `PREFECT_API_URL=http://127.0.0.1:4200/api make demo`"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the demo; print and return where the dataset, report and UI are."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--rooms", type=int, default=2, help="rooms per house")
    parser.add_argument("--seconds-per-room", type=float, default=4.0)
    parser.add_argument("--size", default="640x360", help="tour frame size WxH")
    parser.add_argument("--epochs", default="2,4", help="pretrain,finetune epochs")
    parser.add_argument("--no-train", action="store_true", help="stop after the dataset")
    args = parser.parse_args(argv)
    from tasks.dataset import DatasetError

    out = args.out.resolve()
    tours = out / "tours"
    times: dict[str, float] = {}
    t = time.perf_counter()
    render_houses(tours, args)
    times["synth"] = time.perf_counter() - t
    summary: dict[str, Any] = {"variants": {}}
    for variant in VARIANTS:
        t = time.perf_counter()
        try:
            summary["variants"][variant.name] = build_houses(tours, out / variant.name, variant)
        except DatasetError as e:  # a real reconstruction may leave no sample: say so, go on
            if variant == VARIANTS[0]:
                raise
            summary["variants"][variant.name] = {"error": str(e)}
        times[f"build {variant.name}"] = time.perf_counter() - t
    main_build = summary["variants"][VARIANTS[0].name]
    summary |= {k: main_build[k] for k in ("dataset", "reports", "clips", "counts")}
    t = time.perf_counter()
    summary["quality_by_variant"] = {
        v.name: cached_quality(out, summary["variants"][v.name], out / v.name)
        for v in VARIANTS
        if "error" not in summary["variants"][v.name]
    }
    summary["quality_vs_truth"] = summary["quality_by_variant"][VARIANTS[0].name]
    times["quality"] = time.perf_counter() - t
    if not args.no_train:
        t = time.perf_counter()
        pre, fine = (int(v) for v in args.epochs.split(","))
        summary["evaluation"] = train_and_evaluate(
            Path(main_build["dataset"]), out / "runs", (pre, fine)
        )
        times["train"] = time.perf_counter() - t
    summary["wall_s"] = {k: round(v, 1) for k, v in times.items()}
    summary["ui"] = ui_hint()
    summary["out"] = str(out)
    (out / "demo.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary)
    return summary


def cached_quality(out: Path, built: dict[str, Any], data: Path) -> dict[str, Any]:
    """:func:`truth_quality` of the dataset, reused from the last run when its fingerprint matches."""
    last = out / "demo.json"
    if last.exists():
        prev = json.loads(last.read_text())
        cached = prev.get("quality_by_variant", {}).get(data.name)
        if (
            cached
            and prev["variants"].get(data.name, {}).get("fingerprint") == built["fingerprint"]
        ):
            return cached
    truths = {h["video"]: Path(h["truth"]) for h in built["houses"].values()}
    return truth_quality(Path(built["dataset"]), data, truths)


def print_summary(s: dict[str, Any]) -> None:
    ok = sum(c["status"] == "ok" for c in s["clips"])
    print(f"\nclips: {ok} of {len(s['clips'])} ok")
    for c in s["clips"]:
        if c["status"] != "ok":
            print(f"  {c['clip']}: {c['status']} at {c['stage']}: {c['reason']}")
    print("split: " + ", ".join(f"{k} {v['samples']} samples of {v['videos']} videos"
                                 for k, v in s["counts"].items()))  # fmt: skip
    for name, v in s.get("variants", {}).items():
        if "error" in v:
            print(f"build {name}: no dataset ({v['error']})")
    for name, q in s.get("quality_by_variant", {}).items():
        how = "COLMAP reconstruction" if name == "colmap" else "synthetic-gt reconstruction"
        print(f"samples vs true grids, {how}: IoU {q['iou']:.1f}  mIoU {q['miou']:.1f} "
              "(classes present)")  # fmt: skip
    e = s.get("evaluation")
    if e:
        print(
            f"fine-tuned network on the {e['split']} split: IoU {e['iou']:.1f}  mIoU {e['miou']:.1f}"
        )
        table = Path(s["out"]) / "runs" / "eval.md"
        if table.is_file():  # the per-class table (MonoScene's column order)
            print(table.read_text().rstrip())
    print(f"wall seconds: {s['wall_s']}")
    reports = "\n         ".join(str(r) for r in s["reports"])
    print(f"dataset: {s['dataset']}\nreports: {reports}\nUI:      {s['ui']}")
    print(f"summary: {Path(s['out']) / 'demo.json'}")


def exit_code(summary: dict[str, Any]) -> int:
    """0 when every clip ended ok or skipped with a reason, else 1 (the README's exit codes)."""
    from flows.outcomes import exit_code as items_exit_code

    return items_exit_code(summary["clips"])


if __name__ == "__main__":
    sys.exit(exit_code(main()))
