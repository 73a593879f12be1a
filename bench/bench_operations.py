"""Operations benchmarks: the demo's wall time per stage, Prefect's overhead per task, and clips
per hour with the synthetic-gt backends.

Demo: ``flows.demo`` with its default sizes (training included) in a fresh folder; its phase
wall times come from its summary, the per-stage times from the stage markers it left (each
marker's ``wall_s``, summed over the items that stage ran on).

Overhead: the same stage-like function (is ``voxelize`` done for a clip of the demo: two marker
reads and a parameter hash) over 1,000 items, once as Prefect tasks submitted from a flow the
way the build submits clips (``submit`` per item, ``as_completed``, the configured task
runner) and once in a plain Python loop, in this process; and how long after the flow the API
has recorded every task run.

Clips per hour: clips that reached ``voxelize`` ok in the demo's build ÷ its build seconds.
"""

from __future__ import annotations

import itertools
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, get_client, task
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.futures import as_completed
from prefect.settings import get_current_settings

from flows import demo
from flows.runners import task_runner
from storage.config import Config, load_config
from storage.layout import ALL_STAGES, DataRoot
from storage.manifest import stage_rows
from storage.stages import is_done

N_TASKS = 1000


def demo_config(truth: Path, data: Path) -> Config:
    """The configuration the demo's build ran with."""
    return load_config(overrides=demo.pipeline_overrides(truth), data=data)


def voxelize_done(root: DataRoot, cfg: Config, clip: str) -> bool:
    """The no-op body of both the Prefect run and the plain loop: a real marker check."""
    return is_done(root, cfg, clip, "voxelize")


voxelize_done_task = task(name="voxelize-done")(voxelize_done)


@flow(name="bench-task-overhead")
def overhead_flow(data: str, truth: str, clips: list[str]) -> float:
    """Submit one task per clip and wait for all; return the seconds that took."""
    root, cfg = DataRoot(Path(data)), demo_config(Path(truth), Path(data))
    t0 = time.perf_counter()
    futures = [voxelize_done_task.submit(root, cfg, c) for c in clips]
    for future in as_completed(futures):
        future.result()
    return time.perf_counter() - t0


def recorded_s(flow_run_id: UUID, n: int, timeout: float = 300.0) -> float | None:
    """Seconds until the API holds `n` completed task runs of the flow run; None after `timeout`.

    The server records task runs from the events they send, behind the flow; waiting for it
    also lets the ephemeral server stop at exit with nothing left to record.
    """
    done = TaskRunFilter(
        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED]))
    )
    of_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    t0 = time.perf_counter()
    with get_client(sync_client=True) as client:
        while time.perf_counter() - t0 < timeout:
            if client.read_task_runs(
                flow_run_filter=of_run, task_run_filter=done, offset=n - 1, limit=1
            ):
                return time.perf_counter() - t0
            time.sleep(0.5)
    return None


def stage_times(root: DataRoot) -> dict[str, dict[str, Any]]:
    """Per stage, in run order: seconds summed over items, item count, mean, statuses."""
    rows = stage_rows(root)
    out = {}
    for stage in ALL_STAGES:
        s = rows[rows.stage == stage]
        if not s.empty:
            out[stage] = {
                "total_s": round(float(s.wall_s.sum()), 2),
                "count": len(s),
                "mean_s": round(float(s.wall_s.mean()), 3),
                "statuses": dict(Counter(s.status)),
            }
    return out


def task_overhead(root: DataRoot, truth: Path, clips: list[str]) -> dict[str, Any]:
    """ms per item of `voxelize_done` as Prefect tasks and in a plain loop over `N_TASKS` items."""
    items = list(itertools.islice(itertools.cycle(clips), N_TASKS))
    cfg = demo_config(truth, root.root)
    runner = task_runner(cfg)
    t0 = time.perf_counter()
    state = overhead_flow.with_options(task_runner=runner)(
        str(root.root), str(truth), items, return_state=True
    )
    flow_s = time.perf_counter() - t0
    inside, lag = state.result(), recorded_s(state.state_details.flow_run_id, N_TASKS)
    t0 = time.perf_counter()
    for clip in items:
        voxelize_done(root, cfg, clip)
    loop_s = time.perf_counter() - t0
    prefect_ms, loop_ms = 1000 * inside / N_TASKS, 1000 * loop_s / N_TASKS
    return {
        "tasks": N_TASKS,
        "task_runner": f"{type(runner).__name__}(max_workers={cfg.run.max_workers})",
        "prefect_api": get_current_settings().api.url or "ephemeral (in-process server)",
        "prefect_ms_per_task": round(prefect_ms, 3),
        "plain_loop_ms_per_item": round(loop_ms, 3),
        "overhead_ms_per_task": round(prefect_ms - loop_ms, 3),
        "flow_call_s": round(flow_s, 2),
        "api_recorded_all_s_after_flow": lag and round(lag, 2),
    }


def run(out_dir: Path) -> dict[str, Any]:
    work = out_dir / "demo"
    shutil.rmtree(work, ignore_errors=True)
    summary = demo.main(["--out", str(work)])
    root, truth = DataRoot((work / "data").resolve()), (work / "tour" / "truth").resolve()
    clips = Counter(c["status"] for c in summary["clips"])
    build_s = summary["wall_s"]["build"]
    return {
        "demo": {
            "phase_wall_s": summary["wall_s"],
            "stages": stage_times(root),
        },
        "prefect_overhead": task_overhead(root, truth, root.clip_ids()),
        "throughput": {
            "backends": "synthetic-gt: " + ", ".join(demo.SYNTHETIC_GT),
            "clips": dict(clips),
            "build_s": build_s,
            "clips_per_hour": round(3600 * clips["ok"] / build_s, 1),
        },
    }
