"""Re-running failed (or named) stages and everything downstream, from the data folder alone.

Targets come from the done predicate (:class:`storage.stages.Ledger`): per video or clip, its
first ``failed`` stage (optionally only those whose reason contains a text), or its first stage
that is not done although what it reads is (a killed build, a deleted output, a changed
parameter), or the named stage. The markers of the target and of every stage that reads it,
directly or not (the graph's :func:`storage.graph.downstream_of`, not everything after it),
are removed, then the build runs again over the recorded sources and existing clips; finished
work elsewhere is skipped. The task runner is chosen inside the flow, as for the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.build import build_tail, remember_config
from flows.harvest import harvest_videos
from flows.runners import absolute_paths, flow_config, on_runner
from storage.config import Config, load_config
from storage.graph import CLIP_STAGES, GRAPH, VIDEO_STAGES, downstream_of, stage
from storage.ids import video_id_of_clip
from storage.layout import DataRoot
from storage.stages import Ledger, clear_markers, upstream_item
from tasks.sources import read_source


def rerun_targets(root: DataRoot, cfg: Config, name: str | None = None,
                  clips: list[str] | None = None, reason: str | None = None) -> dict[str, str]:  # fmt: skip
    """Item id → the stage it must restart from (see the module docstring)."""
    if name is not None:
        stage(name)  # ValueError naming the stages
    ledger = Ledger(root, cfg)
    items = [(c, "clip") for c in (clips or root.clip_ids())]
    if not clips:
        items += [(v, "video") for v in root.video_ids()]
    targets: dict[str, str] = {}
    for item, kind in items:
        for s, st in ledger.states(item, kind).items():
            if name is not None:
                if s == name and st.marker is not None:
                    targets[item] = s
                continue
            if st.state == "failed" and (reason or "") in st.why:
                targets[item] = s
                break
            if reason is None and not st.done and ready(ledger, item, s):
                targets[item] = s
                break
            if not st.done or (st.state != "ok" and GRAPH[s].gate):
                break
    return targets


def ready(ledger: Ledger, item: str, name: str) -> bool:
    """True when every stage `name` of `item` reads is done (it could run now)."""
    s = GRAPH[name]
    return all(ledger.state(upstream_item(item, s, up), up).done for up in s.reads) and (
        bool(s.reads) or ledger.root.source_json(item).exists()
    )


def clear_from(root: DataRoot, item: str, name: str) -> int:
    """Remove the markers of `name` and of every stage downstream of it for `item` (and, for a
    video stage, its clips' stages downstream of it)."""
    later = downstream_of(name)
    own = VIDEO_STAGES if name in VIDEO_STAGES else CLIP_STAGES
    gone = clear_markers(root, item, tuple(s for s in later if s in own))
    if name in VIDEO_STAGES:
        for clip in root.clip_ids(item):
            gone += clear_markers(root, clip, tuple(s for s in later if s in CLIP_STAGES))
    return gone


@flow(name="rerun-pipeline")
def rerun_pipeline(data: str | None, config: str | None, overrides: list[str],
                   targets: dict[str, str], dataset: str | None) -> dict[str, Any]:  # fmt: skip
    """Clear the targets' markers and build them again (on the runner the config names)."""
    cfg = absolute_paths(load_config(Path(config) if config else None, overrides, data))
    root = DataRoot.at(cfg.data)
    remember_config(root, cfg)
    log = get_run_logger()
    for item, s in targets.items():
        log.info("rerun %s from %s (%d markers cleared)", item, s, clear_from(root, item, s))
    videos = [read_source(root, v) for v, s in targets.items() if s in VIDEO_STAGES]
    done = harvest_videos(root, cfg, videos)
    clip_ids = sorted(
        {c for c in root.clip_ids() if c in targets or video_id_of_clip(c) in targets}
    )
    ended = [o for o in done.ended if o["clip"] not in clip_ids]
    out = build_tail(root, cfg, clip_ids, dataset, ended)
    return {"targets": targets, **out}


@flow(name="rerun")
def rerun_flow(data: str | None = None, config: str | None = None, overrides: list[str] | None = None,
               stage: str | None = None, clips: list[str] | None = None, reason: str | None = None,
               dataset: str | None = "ytocc") -> dict[str, Any]:  # fmt: skip
    """Re-run what failed (or is not done, or the named stage) and everything downstream.

    Without `config`, the data folder's ``config.yaml`` (the last build's) is the base the
    overrides apply to."""
    cfg, used = flow_config(config, overrides, data)  # judge "done" as the last build did
    targets = rerun_targets(DataRoot.at(cfg.data), cfg, stage, clips, reason)
    return on_runner(cfg, rerun_pipeline)(data, used, overrides or [], targets, dataset)
