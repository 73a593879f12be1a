"""Manifests (``manifest/*.parquet``) and the status table, derived from markers alone (the
status table through the done predicate, so stale stages show as stale with why).

Markers are the source of truth; these tables are views of them, rebuilt on demand, so a fresh
machine holding only the data folder can report and resume.
"""

from __future__ import annotations

import pandas as pd

from storage.atomic import read_json
from storage.config import Config
from storage.formats import FormatError, read_clip_info
from storage.layout import CLIP_STAGES, VIDEO_STAGES, DataRoot, PathEscape
from storage.markers import Marker, read_marker
from storage.notices import warn
from storage.scale import scale_provenance
from storage.schemas import CLIPS, FRAMES, STAGES, VIDEOS, write_table
from storage.stages import Ledger


def _last_stage(root: DataRoot, item: str, stages: tuple[str, ...]) -> tuple[str, Marker | None]:
    """The furthest stage with a marker, and that marker (failed/skipped stop the walk)."""
    last: tuple[str, Marker | None] = ("", None)
    for stage in stages:
        m = read_marker(root.marker(item, stage))
        if m is None:
            break
        last = (stage, m)
        if m.status != "ok":
            break
    return last


def stage_rows(root: DataRoot) -> pd.DataFrame:
    """Every marker as a row of :data:`storage.schemas.STAGES`."""
    rows = []
    items = [(v, VIDEO_STAGES) for v in root.video_ids()] + [
        (c, CLIP_STAGES) for c in root.clip_ids()
    ]
    for item, stages in items:
        for stage in stages:
            m = read_marker(root.marker(item, stage))
            if m is None:
                continue
            rows.append(
                {
                    "item": item, "stage": stage, "status": m.status, "reason": m.reason,
                    "backend": m.backend, "weights": m.weights, "params_hash": m.params_hash,
                    "wall_s": m.wall_s, "peak_mem_mb": m.peak_mem_mb, "finished_at": m.finished_at,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=STAGES.names)


def video_rows(root: DataRoot) -> pd.DataFrame:
    rows = []
    for vid in root.video_ids():
        info_path = root.info_json(vid)
        info = read_json(info_path) if info_path.exists() else {}
        dl = read_marker(root.video_marker(vid, "download"))
        probe = (dl.stats if dl else {}) or {}
        stage, m = _last_stage(root, vid, VIDEO_STAGES)
        rows.append(
            {
                "video_id": vid,
                "url": info.get("webpage_url") or info.get("url") or probe.get("url"),
                "title": info.get("title"),
                "duration_s": probe.get("duration_s"),
                "fps": probe.get("fps"),
                "width": probe.get("width"),
                "height": probe.get("height"),
                "num_frames": probe.get("num_frames"),
                "num_clips": len(root.clip_ids(vid)),
                "stage": stage or None,
                "status": m.status if m else None,
                "reason": m.reason if m else None,
            }
        )
    return pd.DataFrame(rows, columns=VIDEOS.names)


def clip_rows(root: DataRoot) -> pd.DataFrame:
    rows = []
    for cid in root.clip_ids():
        try:
            info = read_clip_info(root.clip_json(cid))
        except FormatError:
            continue
        stage, m = _last_stage(root, cid, CLIP_STAGES)
        aligned = read_marker(root.clip_marker(cid, "align"))
        source, method = (None, None)
        if aligned is not None and aligned.status == "ok":
            source, method = scale_provenance(aligned.stats)
        rows.append(
            {
                "clip_id": cid, "video_id": info.video_id, "shot": info.shot,
                "start_frame": info.start_frame, "end_frame": info.end_frame,
                "start_s": info.start_s, "end_s": info.end_s, "fps": info.fps,
                "num_frames": len(list(root.frames_dir(cid).glob("*.jpg"))),
                "stage": stage or None,
                "status": m.status if m else None,
                "reason": m.reason if m else None,
                "scale_source": source, "scale_method": method or None,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=CLIPS.names)


def frame_rows(root: DataRoot) -> pd.DataFrame:
    rows = []
    for cid in root.clip_ids():
        for folder in (root.frames_dir(cid), root.occ_dir(cid)):
            try:
                root.inside(folder)
            except PathEscape as e:  # listed as not done by status; never followed out
                warn("manifest leaves out %s: %s", cid, e)
                break
        else:
            for jpg in sorted(root.frames_dir(cid).glob("[0-9]*.jpg")):
                occ = root.occ_path(cid, int(jpg.stem))
                rows.append({"clip_id": cid, "k": int(jpg.stem), "frame_path": root.relative(jpg),
                             "occ_path": root.relative(occ) if occ.exists() else None})  # fmt: skip
    return pd.DataFrame(rows, columns=FRAMES.names)


def write_manifests(root: DataRoot) -> dict[str, pd.DataFrame]:
    """Rebuild ``manifest/{videos,clips,frames,stages}.parquet`` from markers; return the tables."""
    tables = {
        "videos": (video_rows(root), VIDEOS),
        "clips": (clip_rows(root), CLIPS),
        "frames": (frame_rows(root), FRAMES),
        "stages": (stage_rows(root), STAGES),
    }
    for name, (df, schema) in tables.items():
        write_table(root.manifest / f"{name}.parquet", df, schema)
    return {name: df for name, (df, _) in tables.items()}


def status_table(root: DataRoot, cfg: Config | None = None) -> pd.DataFrame:
    """Items × stages under `cfg` (default: the default config): one row per video and clip, a
    column per stage holding its state from the done predicate (ok, skipped, failed, stale, or
    empty when never run) and ``reason``: the first stage not ok, and why."""
    ledger = Ledger(root, cfg or Config())
    columns = ["item", "kind", *VIDEO_STAGES, *CLIP_STAGES, "reason"]
    rows = []
    for kind, items in (("video", root.video_ids()), ("clip", root.clip_ids())):
        for item in items:
            states = ledger.states(item, kind)
            row: dict[str, str | None] = {"item": item, "kind": kind, "reason": None}
            for name, st in states.items():
                never = st.state == "missing" and st.why == "not run"
                row[name] = None if never else st.state
                if row["reason"] is None and st.state != "ok" and not never:
                    row["reason"] = (
                        st.why
                        if st.state in ("failed", "skipped")
                        else f"{name} {st.state}: {st.why}"
                    )
            if any(row[s] is not None for s in states):
                rows.append(row)
    return pd.DataFrame(rows, columns=columns).where(lambda df: df.notna(), None)


def summary_text(table: pd.DataFrame) -> str:
    """Items × stages with reasons, as printed at the end of a run and by `ytocc status`."""
    if table.empty:
        return "nothing harvested"
    return table.fillna("").to_string(index=False, max_colwidth=60)
