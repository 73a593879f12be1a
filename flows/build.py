"""The build flow: harvest → indoor → reconstruct → clean → align → segment → voxelize → dataset.

Per clip the stages run in order inside one ``clip`` task (each stage is its own nested task
run in the UI); a clip stops at its first stage that is not ``ok`` and the others go on.
Markers skip finished work; a per-clip lock keeps two builds on one data folder apart.
With the local runner reconstructions are bounded to ``run.gpu_slots`` at a time (a semaphore),
so CPU stages of other clips overlap with them; on Ray each clip task asks for a GPU where the
cluster has one (``flows/runners.py``) and holds it through the clip.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed

from flows.harvest import harvest
from flows.outcomes import exit_code, outcome
from flows.report import publish
from flows.runners import absolute_paths, gpu_options, task_runner
from storage.atomic import FOLDER_ERROR, folder_error
from storage.config import Config, load_config
from storage.layout import DataRoot
from storage.locks import item_lock, lock_holder
from storage.manifest import write_manifests
from storage.stages import is_done
from tasks.align import align_task
from tasks.clean import clean_task
from tasks.dataset import DatasetError, freeze
from tasks.frames import frames_task
from tasks.indoor import indoor_task
from tasks.reconstruct import reconstruct_task
from tasks.segment import segment_task
from tasks.voxelize import voxelize_task

CLIP_TASKS = (
    ("frames", frames_task),
    ("indoor", indoor_task),
    ("reconstruct", reconstruct_task),
    ("clean", clean_task),
    ("align", align_task),
    ("segment", segment_task),
    ("voxelize", voxelize_task),
)


@cache
def gpu_slots(n: int) -> threading.Semaphore:
    """One process-wide semaphore per slot count: reconstructions running at once."""
    return threading.Semaphore(max(1, n))


@task(name="clip")
def process_clip(root: DataRoot, cfg: Config, clip: str) -> dict[str, Any]:
    """Run the clip stages in order; stop at the first that is not ok; return where it ended."""
    lock = root.locks / f"{clip}.lock"
    try:
        with item_lock(lock) as got:
            if not got:
                return outcome(clip, None, "locked", f"held by another build ({lock_holder(lock)})")
            for stage, stage_task in CLIP_TASKS:
                guard = gpu_slots(cfg.run.gpu_slots) if stage == "reconstruct" else nullcontext()
                with guard:
                    marker = stage_task(root, cfg, clip)
                if marker.status != "ok":
                    return outcome(clip, stage, marker.status, marker.reason)
    except OSError as e:  # the lock itself could not be written
        if (reason := folder_error(e)) is None:
            raise
        return outcome(clip, None, "failed", reason)
    return outcome(clip, "voxelize", "ok", "")


def process_clips(root: DataRoot, cfg: Config, clips: list[str]) -> list[dict[str, Any]]:
    """All clips through the clip stages, with a progress artifact; one failure ends one clip."""
    log = get_run_logger()
    progress = create_progress_artifact(
        progress=0.0, key="clips-done", description="clips finished"
    )
    with gpu_options(cfg):
        futures = {process_clip.submit(root, cfg, c): c for c in clips}
    results = []
    for i, fut in enumerate(as_completed(list(futures)), start=1):
        out = fut.result(raise_on_failure=False)
        if isinstance(out, BaseException):
            clip = futures[fut]
            stage = next((s for s, _ in CLIP_TASKS if not is_done(root, cfg, clip, s)), None)
            out = outcome(clip, stage, "failed", f"{type(out).__name__}: {out}")
        results.append(out)
        log.info(
            "[%d/%d] %s: %s %s", i, len(clips), out["clip"], out["status"], out["reason"] or ""
        )
        update_progress_artifact(progress, 100.0 * i / max(len(clips), 1))
    return results


def build(root: DataRoot, cfg: Config, sources: list[str], dataset: str | None) -> dict[str, Any]:
    """The whole build inside a flow: harvest, then :func:`build_tail` over every clip.

    Clips another build holds during the harvest are tried again by the clip stages (and end
    ``locked``, with the holder, if they still are); sources, videos and clips the harvest
    ended early are listed with the build's clips.
    """
    if not sources:
        return build_tail(root, cfg, root.clip_ids(), dataset)
    done = harvest(root, cfg, sources)
    return build_tail(root, cfg, done.clips + done.locked, dataset, done.refused + done.ended)


def build_tail(
    root: DataRoot,
    cfg: Config,
    clips: list[str],
    dataset: str | None,
    ended: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Clip stages over `clips`, manifests, the frozen dataset and the report.

    `ended`: items that ended before the clip stages (a refused source, a failed download),
    listed first in ``clips``. A full or read-only data folder stops the build before the
    manifests, with ``halted`` saying why: nothing written so far is touched, and the next
    build resumes from the markers. ``exit_code`` is 0 only when every item ended ok or skipped.
    """
    log = get_run_logger()
    t0 = time.perf_counter()
    results = (ended or []) + process_clips(root, cfg, clips)
    ok = sum(r["status"] == "ok" for r in results)
    out: dict[str, Any] = {"clips": results, "ok": ok, "dataset": None, "report": None,
                           "exit_code": exit_code(results)}  # fmt: skip
    halted = next((r["reason"] for r in results if r["reason"].startswith(FOLDER_ERROR)), None)
    try:
        if halted is None:
            write_manifests(root)
            out["dataset"] = freeze_or_log(root, cfg, dataset) if dataset else None
            out["report"] = str(
                publish(root, clips, out["dataset"], time.perf_counter() - t0, results)
            )
    except OSError as e:
        if (halted := folder_error(e)) is None:
            raise
    if halted:
        log.error("build stopped: %s", halted)
        return out | {"halted": halted}
    log.info("build: %d of %d clips ok; report %s", ok, len(results), out["report"])
    return out


def freeze_or_log(root: DataRoot, cfg: Config, dataset: str) -> str | None:
    """Freeze `dataset` (replacing an older one); None, logged, when there is nothing to freeze."""
    try:
        return str(freeze(root, cfg, dataset, force=True).path)
    except DatasetError as e:
        get_run_logger().error("dataset not frozen: %s", e)
        return None


@flow(name="build")
def build_flow(
    sources: list[str],
    data: str | None = None,
    config: str | None = None,
    overrides: list[str] | None = None,
    dataset: str | None = "ytocc",
) -> dict[str, Any]:
    """Sources to dataset (see module docstring); returns per-clip outcomes and paths."""
    cfg = absolute_paths(load_config(Path(config) if config else None, overrides or [], data))
    return build(DataRoot.at(cfg.data), cfg, sources, dataset)


def run_build(sources: list[str], data: str | None = None, config: str | None = None,
              overrides: list[str] | None = None, dataset: str | None = "ytocc") -> dict[str, Any]:  # fmt: skip
    """Run `build_flow` with the task runner the config names (local threads, Ray or Dask)."""
    cfg = load_config(Path(config) if config else None, overrides or [], data)
    runner = task_runner(cfg)
    return build_flow.with_options(task_runner=runner)(sources, data, config, overrides, dataset)
