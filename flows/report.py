"""What a build run shows in the Prefect UI and leaves in ``reports/``: a clips × stages table,
a Markdown report (counts, per-stage timings, the worst clips with their reasons, thumbnails and
occupancy pictures embedded as small PNGs), progress, and links to the clip folders.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from flows.outcomes import describe
from storage.atomic import write_text
from storage.config import Config
from storage.formats import FormatError, read_sample
from storage.graph import ALL_STAGES
from storage.layout import DataRoot
from storage.manifest import stage_rows, status_table
from storage.markers import read_marker
from storage.scale import scale_provenance
from storage.stages import Ledger

PICTURES = 3


def _img(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def md_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    cells = df.astype(object).where(df.notna(), "").astype(str)
    cells = cells.apply(lambda col: col.str.replace("|", "\\|").str.slice(0, 120))
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns)
    return "\n".join(
        [head, *("| " + " | ".join(row) + " |" for row in cells.itertuples(index=False))]
    )


def stage_timings(root: DataRoot) -> pd.DataFrame:
    """Per stage: items ok/skipped/failed and wall seconds (sum, mean) from the markers."""
    st = stage_rows(root)
    if st.empty:
        return pd.DataFrame(columns=["stage", "ok", "skipped", "failed", "wall_s", "mean_s"])
    counts = st.pivot_table(
        index="stage", columns="status", values="item", aggfunc="count", fill_value=0
    )
    for c in ("ok", "skipped", "failed"):
        if c not in counts:
            counts[c] = 0
    wall = (
        st.groupby("stage")
        .wall_s.agg(["sum", "mean"])
        .rename(columns={"sum": "wall_s", "mean": "mean_s"})
    )
    out = counts[["ok", "skipped", "failed"]].join(wall).reset_index()
    order = {s: i for i, s in enumerate(ALL_STAGES)}
    return out.sort_values("stage", key=lambda s: s.map(order)).round(2)


def scale_sources(root: DataRoot) -> pd.DataFrame:
    """Clips per scale source and method, from the ok align markers (provenance of the metric
    scale: measured from a ceiling, or assumed from wall tops or a camera height)."""
    rows = []
    for clip in root.clip_ids():
        m = read_marker(root.clip_marker(clip, "align"))
        if m is not None and m.status == "ok":
            rows.append(scale_provenance(m.stats))
    df = pd.DataFrame(rows, columns=["scale", "method"])
    counts = df.groupby(["scale", "method"]).size().rename("clips").reset_index()
    return counts.sort_values(["scale", "method"], ignore_index=True)


def pictures(root: DataRoot, cfg: Config, clips: list[str]) -> list[str]:
    """Markdown of a frame beside its occupancy grid for the first few clips that are done
    (stale or failed clips have no picture; an unreadable sample is named instead)."""
    from flows.pictures import frame_beside_grid_png

    ledger = Ledger(root, cfg)
    lines = []
    for clip in clips:
        if not ledger.clip_ok(clip):
            continue
        occ = sorted(ledger.state(clip, "voxelize").marker.outputs)  # type: ignore[union-attr]
        if not occ:
            continue
        path = root.root / occ[len(occ) // 2]
        try:
            sample = read_sample(path)
            png = frame_beside_grid_png(root.inside(sample["frame"]), sample["target"], height=160)
        except (FormatError, OSError, ValueError) as e:
            lines.append(f"**{clip}**: no picture ({e})\n")
            continue
        lines.append(f"**{clip}**\n\n{_img(png, clip)}\n")
        if len(lines) == PICTURES:
            break
    return lines


def markdown_report(root: DataRoot, cfg: Config, clips: list[str], dataset: str | None,
                    wall_s: float, outcomes: list[dict[str, Any]] | None = None) -> str:  # fmt: skip
    """The run report (Markdown); `outcomes` adds where this run's items ended that did not end
    ok, locked clips (which have no marker) included with their holder."""
    table = status_table(root, cfg)
    mine = [o for o in outcomes or [] if o["status"] != "ok"]
    timings = stage_timings(root)
    scales = scale_sources(root)
    bad = table[table.reason.notna()] if not table.empty else table
    lines = [
        f"# ytocc build — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Data root `{root.root}`; {len(clips)} clips processed in {wall_s:.0f} s; "
        f"dataset: {f'`{dataset}`' if dataset else 'not frozen'}.",
        "",
        "## Stages",
        "",
        md_table(timings) if not timings.empty else "no markers",
        "",
        "## This run",
        "",
        *([f"- {describe(o)}" for o in mine] or ["every item ok"]),
        "",
        "## Scale",
        "",
        "Aligned clips by where their metric scale came from (assumed: no ceiling seen).",
        "",
        md_table(scales) if not scales.empty else "no aligned clip",
        "",
        "## Items that ended early",
        "",
        md_table(bad[["item", "kind", "reason"]]) if len(bad) else "none",
        "",
        "## Samples",
        "",
        *pictures(root, cfg, clips),
    ]
    return "\n".join(lines) + "\n"


def publish(root: DataRoot, cfg: Config, clips: list[str], dataset: str | None, wall_s: float,
            outcomes: list[dict[str, Any]] | None = None) -> Path:  # fmt: skip
    """Write the report under ``reports/`` and publish the UI artifacts; return the report path."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    text = markdown_report(root, cfg, clips, dataset, wall_s, outcomes)
    path = root.reports / f"build-{datetime.now(UTC):%Y%m%dT%H%M%S}.md"
    write_text(path, text)
    table = status_table(root, cfg).fillna("")
    create_table_artifact(table=table.to_dict(orient="records"), key="clips-by-stage",
                          description="Every video and clip × stage: status and reason")  # fmt: skip
    create_markdown_artifact(markdown=text, key="build-report", description=str(path))
    for clip in clips[:20]:
        create_link_artifact(
            link=root.clip_dir(clip).as_uri(), link_text=clip, description="clip folder"
        )
    return path
