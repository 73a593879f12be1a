"""The Parquet schema of a frozen dataset's split files (``datasets/{name}/{split}.parquet``).

One row per occupancy sample. Paths are relative to the dataset folder, so a dataset folder can
be moved or copied as a whole. The class histogram counts the sample's voxels per label.
"""

from __future__ import annotations

import pyarrow as pa

from storage.formats import CLASS_NAMES, OCCUPIED

SPLITS: tuple[str, ...] = ("train", "val")

HIST_LABELS: tuple[int, ...] = (*range(len(CLASS_NAMES) + 1), OCCUPIED, 255)
"""Labels counted per sample: 0 free, 1..11 classes, 254 occupied without a class
(geometry-only samples), 255 unknown."""
HIST_COLUMNS: tuple[str, ...] = (
    "n_free",
    *(f"n_{c}" for c in CLASS_NAMES),
    "n_occupied",
    "n_unknown",
)
"""Column of each label in :data:`HIST_LABELS`, same order."""

MODEL_STAGES: tuple[str, ...] = ("indoor", "reconstruct", "segment")
"""Stages whose backend and weights id every row records."""

SAMPLES = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("k", pa.int32(), nullable=False),
        pa.field("sample_path", pa.string(), nullable=False),
        pa.field("frame_path", pa.string(), nullable=False),
        pa.field("segment_path", pa.string()),
        *(pa.field(c, pa.int64(), nullable=False) for c in HIST_COLUMNS),
        *(
            pa.field(f"{stage}_{what}", pa.string())
            for stage in MODEL_STAGES
            for what in ("backend", "weights")
        ),
        pa.field("voxelize_hash", pa.string()),
        pa.field("scale_source", pa.string(), nullable=False),
        pa.field("scale_method", pa.string()),
    ]
)
"""One row per sample of one split; ``segment_path`` is null when the clip has no segments.
``scale_source`` is ``measured`` (the clip's metric scale comes from a seen ceiling),
``assumed`` (wall tops or a camera height stood for it) or ``unknown``; ``scale_method`` names
the method (``ceiling``, ``ceiling-glimpse``, ``wall-top``, ``camera-height``)."""
