"""README: "`run.gpu_slots` bounds reconstructions running at once; other clips' CPU stages overlap".

The build's clip loop (``flows.build.process_clips`` on the local thread runner) runs with every
clip stage replaced by a probe that records when it starts and ends, takes a while, and writes
an ``ok`` marker: the stages' work is not what is measured, their scheduling is.
"""

from __future__ import annotations

import threading
import time

import pytest
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

import flows.build as build
from storage.config import Config
from storage.layout import DataRoot
from storage.stages import run_item_stage

STAGES = ("frames", "indoor", "reconstruct", "clean", "align", "segment", "voxelize")
HOLD_S = {"reconstruct": 0.6}  # a reconstruction outlasts the CPU stages around it
CPU_S = 0.15


class Probe:
    """(stage, clip, start, end) of every stage run; thread-safe."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, float, float]] = []
        self._lock = threading.Lock()

    def stage(self, name: str):
        @task(name=name)
        def run(root: DataRoot, cfg: Config, clip: str):
            t0 = time.monotonic()
            time.sleep(HOLD_S.get(name, CPU_S))
            marker = run_item_stage(root, cfg, clip, name, lambda: None)
            with self._lock:
                self.spans.append((name, clip, t0, time.monotonic()))
            return marker

        return run

    def most_at_once(self, stage: str) -> int:
        """The largest number of `stage` runs in progress at one moment."""
        events = sorted(
            (t, d) for s, _, a, b in self.spans if s == stage for t, d in ((a, 1), (b, -1))
        )
        running = best = 0
        for _, d in events:
            running += d
            best = max(best, running)
        return best

    def overlaps_a_reconstruction(self) -> bool:
        """A CPU stage of one clip ran while another clip was reconstructing."""
        recon = [(c, a, b) for s, c, a, b in self.spans if s == "reconstruct"]
        return any(
            s != "reconstruct" and c != rc and a < rb and ra < b
            for s, c, a, b in self.spans
            for rc, ra, rb in recon
        )


def clips_of_one_video(root: DataRoot, cfg: Config, n: int) -> list[str]:
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, "tour", stage, lambda: None)
    return [f"tour-{i:03d}" for i in range(n)]


@pytest.mark.parametrize("slots", [1, 2])
def test_gpu_slots_bound_reconstructions_and_cpu_stages_overlap(
    prefect_harness, root, monkeypatch, slots
) -> None:
    probe = Probe()
    monkeypatch.setattr(build, "CLIP_TASKS", {s: probe.stage(s) for s in STAGES})
    cfg = Config().model_copy(update={"run": Config().run.model_copy(update={"gpu_slots": slots})})
    clips = clips_of_one_video(root, cfg, 4)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def clip_loop() -> list[dict]:
        return build.process_clips(root, cfg, clips)

    results = clip_loop()
    assert [r["status"] for r in results] == ["ok"] * 4
    assert sum(s == "reconstruct" for s, *_ in probe.spans) == 4
    # 4 clips on 4 workers reach reconstruct together: only the slots bound how many run
    assert probe.most_at_once("reconstruct") == slots
    assert probe.overlaps_a_reconstruction()
