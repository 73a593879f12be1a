"""Explicit pyarrow schemas of every Parquet file ytocc writes, and their atomic writer/reader."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

_MARKER_FIELDS = [
    pa.field("status", pa.string()),
    pa.field("reason", pa.string()),
]

VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("num_frames", pa.int64()),
        pa.field("num_clips", pa.int32()),
        pa.field("stage", pa.string()),
        *_MARKER_FIELDS,
    ]
)
"""One row per video: its metadata and the last stage it reached with that stage's status."""

CLIPS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("shot", pa.int32()),
        pa.field("start_frame", pa.int64()),
        pa.field("end_frame", pa.int64()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("num_frames", pa.int32()),
        pa.field("stage", pa.string()),
        *_MARKER_FIELDS,
        pa.field("scale_source", pa.string()),
        pa.field("scale_method", pa.string()),
    ]
)
"""One row per clip: its span, the last stage it reached with that stage's status, and where
its metric scale came from (``storage.scale``; null until aligned)."""

FRAMES = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("k", pa.int32(), nullable=False),
        pa.field("frame_path", pa.string()),
        pa.field("occ_path", pa.string()),
    ]
)
"""One row per sampled frame; occ_path is null until the frame's sample exists."""

STAGES = pa.schema(
    [
        pa.field("item", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("status", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("backend", pa.string()),
        pa.field("weights", pa.string()),
        pa.field("params_hash", pa.string()),
        pa.field("wall_s", pa.float64()),
        pa.field("peak_mem_mb", pa.float64()),
        pa.field("finished_at", pa.string()),
    ]
)
"""One row per marker (video or clip stage): the long table behind status and reports."""


def write_table(path: str | os.PathLike[str], df: pd.DataFrame, schema: pa.Schema) -> Path:
    """Atomically write `df` as Parquet with exactly `schema` (columns in schema order)."""
    missing = [n for n in schema.names if n not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns missing for schema: {missing}")
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_table(path: str | os.PathLike[str], schema: pa.Schema | None = None) -> pd.DataFrame:
    """Read a Parquet file, checking it against `schema` when given."""
    table = pq.read_table(path)
    if schema is not None and not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{path}: schema differs from expected:\n{table.schema}\nvs\n{schema}")
    return table.to_pandas()
