"""The build flow: harvest → the clip stages of the graph → manifests → dataset → report.

Per clip the stages run in the graph's order (``storage.graph``) inside one ``clip`` task
(each stage that has work is its own nested task run in the UI); a stage runs only when the
done predicate (:class:`storage.stages.Ledger`) says it is not done, so a finished clip costs a
few stats and no task run, and a deleted or changed output, an upstream that re-ran or a changed
parameter re-runs exactly what it affects. A clip stops at its first stage that is not ``ok``
and the others go on. A per-clip lock keeps two builds on one data folder apart.

The task runner is chosen inside the flow from ``run.*`` (:func:`flows.runners.on_runner`), so
the CLI, ``ytocc rerun``, ``ytocc serve`` and the ``prefect.yaml`` deployment all honour
``run.task_runner``, ``run.max_workers`` and the Ray settings. With the local runner
reconstructions are bounded to ``run.gpu_slots`` at a time (a semaphore), so CPU stages of
other clips overlap with them; on Ray each clip task asks for a GPU where the cluster has one
(``flows/runners.py``) and holds it through the clip.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
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
from flows.runners import absolute_paths, flow_config, gpu_options, on_runner
from storage.atomic import FOLDER_ERROR, folder_error, write_text
from storage.config import Config, dump_config, load_config
from storage.graph import CLIP_STAGES
from storage.layout import DataRoot
from storage.locks import item_lock, lock_holder
from storage.manifest import write_manifests
from storage.markers import Marker
from storage.plan import settled
from storage.stages import Ledger, UpstreamNotDone
from tasks.align import align_task
from tasks.clean import clean_task
from tasks.dataset import DatasetError, freeze
from tasks.frames import frames_task
from tasks.indoor import indoor_task
from tasks.reconstruct import reconstruct_task
from tasks.segment import segment_task
from tasks.voxelize import voxelize_task

CLIP_TASKS: dict[str, Callable[..., Marker]] = {
    "frames": frames_task,
    "indoor": indoor_task,
    "reconstruct": reconstruct_task,
    "clean": clean_task,
    "align": align_task,
    "segment": segment_task,
    "voxelize": voxelize_task,
}
"""The task of each clip stage of the graph (one line per stage)."""
if set(CLIP_TASKS) != set(CLIP_STAGES):
    raise RuntimeError(f"clip stages without a task: {set(CLIP_STAGES) ^ set(CLIP_TASKS)}")


@cache
def gpu_slots(n: int) -> threading.Semaphore:
    """One process-wide semaphore per slot count: reconstructions running at once."""
    return threading.Semaphore(max(1, n))


@task(name="clip")
def process_clip(root: DataRoot, cfg: Config, clip: str) -> dict[str, Any]:
    """Run the clip stages that are not done, in order; stop at the first that is not ok."""
    lock = root.locks / f"{clip}.lock"
    try:
        with item_lock(lock) as got:
            if not got:
                return outcome(clip, None, "locked", f"held by another build ({lock_holder(lock)})")
            ledger = Ledger(root, cfg)
            for stage in CLIP_STAGES:
                st = ledger.state(clip, stage)
                if not st.done:
                    guard = (
                        gpu_slots(cfg.run.gpu_slots) if stage == "reconstruct" else nullcontext()
                    )
                    try:
                        with guard:
                            marker = CLIP_TASKS[stage](root, cfg, clip)
                    except UpstreamNotDone as e:
                        return outcome(clip, stage, "blocked", str(e))
                    ledger.forget(clip)
                    st = ledger.state(clip, stage)
                    if marker.status != "ok":
                        return outcome(clip, stage, marker.status, marker.reason)
                if st.state != "ok":
                    return outcome(clip, stage, st.state, st.why)
    except OSError as e:  # the lock itself could not be written
        if (reason := folder_error(e)) is None:
            raise
        return outcome(clip, None, "failed", reason)
    return outcome(clip, CLIP_STAGES[-1], "ok", "")


def process_clips(root: DataRoot, cfg: Config, clips: list[str]) -> list[dict[str, Any]]:
    """All clips through the clip stages, with a progress artifact; one failure ends one clip."""
    log = get_run_logger()
    progress = create_progress_artifact(
        progress=0.0, key="clips-done", description="clips finished"
    )
    ledger = Ledger(root, cfg)
    results = [out for c in clips if (out := settled(ledger, c)) is not None]
    finished = {r["clip"] for r in results}
    todo = [c for c in clips if c not in finished]
    log.info("%d of %d clips have work to do", len(todo), len(clips))
    with gpu_options(cfg):
        futures = {process_clip.submit(root, cfg, c): c for c in todo}
    for i, fut in enumerate(as_completed(list(futures)), start=len(results) + 1):
        out = fut.result(raise_on_failure=False)
        if isinstance(out, BaseException):
            clip = futures[fut]
            stage = next(
                (s for s in CLIP_STAGES if not Ledger(root, cfg).state(clip, s).done), None
            )
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
                publish(root, cfg, clips, out["dataset"], time.perf_counter() - t0, results)
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
    """Freeze `dataset` (replacing an older one); None, logged, when there is nothing to freeze.
    A split left empty is logged as a warning."""
    try:
        summary = freeze(root, cfg, dataset, force=True)
    except DatasetError as e:
        get_run_logger().error("dataset not frozen: %s", e)
        return None
    for line in summary.empty_splits:
        get_run_logger().warning("dataset %s: %s", dataset, line)
    return str(summary.path)


@flow(name="build-pipeline")
def build_pipeline(sources: list[str], data: str | None, config: str | None,
                   overrides: list[str], dataset: str | None) -> dict[str, Any]:  # fmt: skip
    """The build's tasks, on the task runner the config names (started by :func:`build_flow`)."""
    cfg = absolute_paths(load_config(Path(config) if config else None, overrides, data))
    root = DataRoot.at(cfg.data)
    remember_config(root, cfg)
    return build(root, cfg, sources, dataset)


def remember_config(root: DataRoot, cfg: Config) -> None:
    """Keep the effective config beside the data (``config.yaml``): what `status`, `dataset`
    and `rerun` judge "done" by unless told otherwise."""
    with contextlib.suppress(OSError):  # a full or read-only folder is reported by the build
        write_text(root.build_config, dump_config(cfg.model_copy(update={"data": None})))


@flow(name="build")
def build_flow(
    sources: list[str],
    data: str | None = None,
    config: str | None = None,
    overrides: list[str] | None = None,
    dataset: str | None = "ytocc",
) -> dict[str, Any]:
    """Sources to dataset (see module docstring); returns per-clip outcomes and paths.

    The deployment's entrypoint: it reads the config (without `config`, the data folder's own
    ``config.yaml``: :func:`flows.runners.flow_config`) and runs :func:`build_pipeline` on the
    task runner ``run.task_runner`` names.
    """
    cfg, used = flow_config(config, overrides, data)
    return on_runner(cfg, build_pipeline)(sources, data, used, overrides or [], dataset)
