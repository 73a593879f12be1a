"""What a build would do, decided from markers alone (no Prefect, no pandas): which clips have
work, where the others ended, and whether a frozen dataset already holds exactly what is done.

`ytocc build` with no new sources asks this first, so a no-op build over a finished folder is
a few stats per clip instead of a flow run (``make bench``: bench_operations ``noop_build``).
"""

from __future__ import annotations

from typing import Any

from storage.atomic import read_json
from storage.config import Config
from storage.graph import CLIP_STAGES, GRAPH
from storage.layout import DataRoot
from storage.stages import Ledger


def outcome(clip: str, stage: str | None, status: str, reason: str) -> dict[str, Any]:
    """Where one item ended (in a run, or as the markers say); `stage` None: before any stage,
    e.g. a refused source."""
    return {"clip": clip, "stage": stage, "status": status, "reason": reason}


def settled(ledger: Ledger, clip: str) -> dict[str, Any] | None:
    """Where `clip` ended when nothing of it needs to run (every stage done, or stopped at a
    gate that is done but not ok); None when some stage has work (failed stages are retried)."""
    for stage in CLIP_STAGES:
        st = ledger.state(clip, stage)
        if not st.done:
            return None
        if st.state != "ok" and GRAPH[stage].gate:
            return outcome(clip, stage, st.state, st.why)
    return outcome(clip, CLIP_STAGES[-1], "ok", "")


def frozen_runs(ledger: Ledger, clips: list[str]) -> dict[str, str]:
    """Clip → fingerprint of its voxelize run, for the clips whose every stage is ok."""
    return {
        c: ledger.state(c, CLIP_STAGES[-1]).marker.fingerprint()  # type: ignore[union-attr]
        for c in clips
        if ledger.clip_ok(c)
    }


def dataset_current(root: DataRoot, cfg: Config, name: str, ledger: Ledger | None = None) -> bool:
    """True when ``datasets/{name}`` holds exactly the clips done now, from the same runs, with
    the same split settings and nothing left out (freezing again would change nothing)."""
    try:
        old = read_json(root.dataset_dir(name) / "dataset.json")
    except (OSError, ValueError):
        return False
    if not isinstance(old, dict) or old.get("skipped"):
        return False
    if (old.get("val_fraction"), old.get("seed")) != (cfg.dataset.val_fraction, cfg.dataset.seed):
        return False
    ledger = ledger or Ledger(root, cfg)
    return old.get("sources") == frozen_runs(ledger, root.clip_ids())


def noop(root: DataRoot, cfg: Config, dataset: str | None) -> list[dict[str, Any]] | None:
    """Every clip's outcome when a build without sources would do nothing (every clip settled
    and `dataset`, if any, current); None when it has work."""
    ledger = Ledger(root, cfg)
    clips = root.clip_ids()
    out = [settled(ledger, c) for c in clips]
    if any(o is None for o in out) or not clips:
        return None
    if dataset and not dataset_current(root, cfg, dataset, ledger):
        return None
    return out  # type: ignore[return-value]
