"""Freezing a dataset: every finished occupancy sample → ``datasets/{name}/`` (self-contained).

A frozen dataset holds ``train.parquet`` and ``val.parquet`` (schema
:data:`storage.dataset_schema.SAMPLES`), hard links (or copies) of every sample, frame and
segment file they reference, a dataset card ``README.md`` and ``dataset.json`` (counts, content
fingerprint, skipped samples). The split is by video, from a seeded hash of the video id, so no
scene leaks across splits and a video keeps its split when more videos arrive. The folder is
built beside its final place and renamed in, so a killed freeze leaves nothing that counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from storage.atomic import TMP_PREFIX, read_json, temp_folder, write_json, write_text
from storage.config import Config
from storage.dataset_schema import (
    HIST_COLUMNS,
    HIST_LABELS,
    MODEL_STAGES,
    SAMPLES,
    SPLITS,
)
from storage.formats import (
    CLASS_NAMES,
    FormatError,
    read_clip_info,
    read_sample,
    read_segment,
)
from storage.layout import CLIP_STAGES, DataRoot
from storage.locks import waiting_lock
from storage.markers import Marker, code_version, read_marker
from storage.scale import SOURCES, scale_provenance
from storage.schemas import write_table
from storage.stages import Ledger

SOURCE_COLUMNS = ("src_sample", "src_frame", "src_segment")
"""Absolute source paths kept beside each row while freezing (not written to Parquet)."""


class DatasetError(ValueError):
    """A dataset that cannot be frozen (nothing to freeze, or the name holds other content)."""


@dataclass
class FreezeSummary:
    """What a freeze produced (or found already frozen)."""

    path: Path
    fingerprint: str
    counts: dict[str, dict[str, int]]
    skipped: list[str] = field(default_factory=list)
    created: bool = True
    refreshed: bool = False
    """Same content, but the record (``dataset.json``, card) was brought up to date: the runs
    the samples now come from, the split settings or what was left out changed."""
    val_fraction: float | None = None

    @property
    def empty_splits(self) -> list[str]:
        """One line per split that holds no sample (a model cannot train or be checked on it)."""
        videos = self.counts["total"]["videos"]
        why = f"val_fraction {self.val_fraction}, " if self.val_fraction is not None else ""
        return [
            f"the {split} split is empty ({why}{videos} video{'s' * (videos != 1)})"
            for split in SPLITS
            if self.counts.get(split, {}).get("samples", 0) == 0
        ]


# gathering ------------------------------------------------------------------------------------
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inside(root: DataRoot, rel: str) -> Path:
    """`rel` (from a sample's ``frame`` key) resolved under the data root; never outside it."""
    base = root.root.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise FormatError(f"frame path {rel!r} points outside the data root")
    return path


def class_histogram(target: np.ndarray) -> np.ndarray:
    """Voxel counts of :data:`HIST_LABELS` (free, 11 classes, unknown) in one grid."""
    return np.bincount(target.ravel(), minlength=256)[list(HIST_LABELS)].astype(np.int64)


def _model_columns(root: DataRoot, clip_id: str) -> dict[str, str | None]:
    cols: dict[str, str | None] = {}
    for stage in MODEL_STAGES:
        m = read_marker(root.clip_marker(clip_id, stage))
        cols[f"{stage}_backend"] = m.backend if m else None
        cols[f"{stage}_weights"] = m.weights if m else None
    return cols


def _scale_columns(root: DataRoot, clip_id: str) -> dict[str, str | None]:
    """The clip's scale provenance from its align marker (or align.json when the marker
    predates it): ``scale_source`` measured | assumed | unknown, ``scale_method``."""
    marker = read_marker(root.clip_marker(clip_id, "align"))
    source, method = scale_provenance(marker.stats if marker else None)
    if source == "unknown" and root.align_json(clip_id).is_file():
        with contextlib.suppress(OSError, ValueError):
            source, method = scale_provenance(read_json(root.align_json(clip_id)))
    return {"scale_source": source, "scale_method": method or None}


def _sample_row(root: DataRoot, clip_id: str, k: int, npz: Path) -> dict[str, Any]:
    """One row for sample `npz` (validated), with its source paths and file digest."""
    sample = read_sample(npz)
    frame = _inside(root, sample["frame"])
    if not frame.is_file():
        raise FormatError(f"{npz}: frame {sample['frame']} missing")
    seg = root.segment_path(clip_id, k)
    digests = [_file_digest(npz), _file_digest(frame)]
    if seg.is_file():
        regions = read_segment(seg)["regions"]
        if regions.shape != sample["depth"].shape:
            raise FormatError(
                f"{seg}: shape {regions.shape} differs from depth {sample['depth'].shape}"
            )
        digests.append(_file_digest(seg))
    hist = class_histogram(sample["target"])
    return {
        "sample_id": f"{clip_id}-{k:04d}",
        "clip_id": clip_id,
        "k": k,
        "sample_path": f"samples/{clip_id}/{k:04d}.npz",
        "frame_path": f"frames/{clip_id}/{k:04d}{frame.suffix}",
        "segment_path": f"segments/{clip_id}/{k:04d}.npz" if seg.is_file() else None,
        **dict(zip(HIST_COLUMNS, hist.tolist(), strict=True)),
        "src_sample": npz,
        "src_frame": frame,
        "src_segment": seg if seg.is_file() else None,
        "digest": hashlib.sha256("".join(digests).encode()).hexdigest(),
    }


def _sample_files(root: DataRoot, marker: Marker) -> list[tuple[int, Path]]:
    """The samples the voxelize run recorded (what the done predicate checked), by frame."""
    files = [root.root / rel for rel in marker.outputs if rel.endswith(".npz")]
    return sorted((int(p.stem), p) for p in files if p.stem.isdigit())


Progress = Callable[[int, int], None]
"""Called with (clips done, clips in all) while gathering, so a command can show a bar."""


def _clip_rows(
    root: DataRoot, ledger: Ledger, clip_id: str, skipped: list[str]
) -> list[dict[str, Any]]:
    """Rows of one clip's samples when every stage of the clip is ok under the config (the
    done predicate: nothing stale or failed is frozen); bad samples go to `skipped`."""
    states = ledger.states(clip_id)
    bad = next((st for st in states.values() if st.state != "ok"), None)
    if bad is not None:
        if bad.state in ("stale", "failed"):
            skipped.append(f"{clip_id}: {bad.stage} is {bad.state} ({bad.why})")
        return []
    marker = states[CLIP_STAGES[-1]].marker
    assert marker is not None  # ok states carry their marker
    try:
        video_id = read_clip_info(root.clip_json(clip_id)).video_id
    except FormatError as e:
        skipped.append(f"{clip_id}: {e}")
        return []
    shared = (
        _model_columns(root, clip_id)
        | _scale_columns(root, clip_id)
        | {
            "video_id": video_id,
            "voxelize_hash": marker.params_hash,
            "voxelize_run": marker.fingerprint(),
        }
    )
    rows = []
    for k, npz in _sample_files(root, marker):
        try:
            rows.append(_sample_row(root, clip_id, k, npz) | shared)
        except FormatError as e:
            skipped.append(f"{clip_id}-{k:04d}: {e}")
    return rows


def gather_samples(
    root: DataRoot, cfg: Config, progress: Progress | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Rows of every sample of every clip that is done under `cfg`; and what was left out.

    A stale or failed clip, or a sample whose file, frame or segment is unreadable, is left
    out with a one-line reason.
    """
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    clip_ids = root.clip_ids()
    ledger = Ledger(root, cfg)
    for i, clip_id in enumerate(clip_ids):
        rows += _clip_rows(root, ledger, clip_id, skipped)
        if progress is not None:
            progress(i + 1, len(clip_ids))
    return pd.DataFrame(rows), skipped


# splitting ------------------------------------------------------------------------------------
def _unit_hash(video_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def video_splits(video_ids: list[str], val_fraction: float, seed: int = 0) -> dict[str, str]:
    """Video id → "train" | "val": val when the seeded hash of the id is under `val_fraction`.

    A video's split depends on its id alone, so it never moves when videos are added. With two
    or more videos and 0 < `val_fraction` < 1, neither split is left empty: the video with the
    lowest (highest) hash moves over.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise DatasetError(f"val fraction {val_fraction} is not in [0, 1]")
    ids = sorted(set(video_ids))
    u = np.array([_unit_hash(v, seed) for v in ids])
    val = u < val_fraction
    if len(ids) >= 2 and 0.0 < val_fraction < 1.0:
        if not val.any():
            val[np.argmin(u)] = True
        if val.all():
            val[np.argmax(u)] = False
    return {v: ("val" if is_val else "train") for v, is_val in zip(ids, val, strict=True)}


# writing --------------------------------------------------------------------------------------
def _place(src: Path, dst: Path) -> None:
    """Hard-link `src` at `dst` (copy across file systems). Sources are only ever replaced by
    rename, never rewritten in place, so a link stays frozen."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _fingerprint(df: pd.DataFrame) -> str:
    """A digest of what the dataset holds: sample ids, their split and their files' bytes."""
    keyed = df.sort_values("sample_id")
    text = "\n".join(
        f"{s}\t{p}\t{d}" for s, p, d in zip(keyed.sample_id, keyed.split, keyed.digest, strict=True)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    out = {}
    for split in (*SPLITS, "total"):
        part = df if split == "total" else df[df.split == split]
        out[split] = {
            "videos": int(part.video_id.nunique()),
            "clips": int(part.clip_id.nunique()),
            "samples": len(part),
        }
    return out


def _backend_lines(df: pd.DataFrame) -> list[str]:
    lines = []
    for stage in MODEL_STAGES:
        cols = [f"{stage}_backend", f"{stage}_weights"]
        groups = df.groupby(cols, dropna=False).size()
        for (backend, weights), n in groups.items():
            b = backend if isinstance(backend, str) else "(none)"
            w = weights if isinstance(weights, str) else "-"
            lines.append(f"| {stage} | {b} | {w} | {n} |")
    return lines


def _geometry_only_lines(df: pd.DataFrame) -> list[str]:
    """A note on samples made with ``segment.backend: none`` (occupancy without classes)."""
    n = int((df["segment_backend"] == "none").sum()) if "segment_backend" in df else 0
    if not n:
        return []
    return [
        "",
        f"**Geometry-only: {n} of {len(df)} samples** were made with `segment.backend: none`:"
        " their occupied voxels are 254 (occupied, class unknown). They serve IoU and"
        " pretraining (SLIC superpixels), not class metrics; running `segment` with a real"
        " segmenter upgrades them (only segment and voxelize re-run).",
    ]


def _scale_lines(df: pd.DataFrame) -> list[str]:
    keys = [df.scale_source, df.scale_method.fillna("-")]
    clips = df.clip_id.groupby(keys).nunique()
    samples = df.groupby(keys).size()
    return [
        f"| {src} | {method} | {clips[src, method]} | {n} |" for (src, method), n in samples.items()
    ]


def scale_counts(df: pd.DataFrame) -> dict[str, int]:
    """Clips per scale source (measured, assumed, unknown)."""
    clips = df.drop_duplicates("clip_id")
    return {s: int((clips.scale_source == s).sum()) for s in SOURCES}


def dataset_card(
    name: str,
    df: pd.DataFrame,
    cfg: Config,
    fingerprint: str,
    skipped: list[str],
    frozen_at: datetime | None = None,
) -> str:
    """The dataset card (README.md): counts, class histogram, backends, parameters."""
    frozen_at = frozen_at or datetime.now(UTC)
    counts = _counts(df)
    hist = df[list(HIST_COLUMNS)].sum()
    known = int(hist.drop("n_unknown").sum())
    names = ["free", *CLASS_NAMES, "occupied, no class", "unknown"]
    hist_lines = [
        f"| {label} | {n} | {int(hist[col])} | "
        + (f"{100 * hist[col] / known:.2f} %" if col != "n_unknown" and known else "-")
        + " |"
        for label, n, col in zip(HIST_LABELS, names, HIST_COLUMNS, strict=True)
    ]
    params = {s: cfg.section(s).model_dump(mode="json") for s in ("dataset", "voxelize")}
    grid = cfg.voxelize
    hashes = sorted(df.voxelize_hash.dropna().unique().tolist())
    lines = [
        f"# Dataset `{name}`",
        "",
        "Semantic occupancy samples frozen by `ytocc dataset` (YouTube-Occ format: one sample per",
        f"frame, grid {'×'.join(map(str, grid.dims))} at {grid.voxel_size} m, labels 0 free,"
        " 1..11 NYU classes, 254 occupied without a class, 255 unknown). Split by video.",
        "",
        f"- frozen: {frozen_at.isoformat(timespec='seconds')}, ytocc {code_version()}",
        f"- fingerprint: `{fingerprint}`",
        "",
        "## Counts",
        "",
        "| split | videos | clips | samples |",
        "|---|---|---|---|",
        *(f"| {s} | {c['videos']} | {c['clips']} | {c['samples']} |" for s, c in counts.items()),
        "",
        "## Class histogram (voxels)",
        "",
        "| id | class | voxels | share of known |",
        "|---|---|---|---|",
        *hist_lines,
        "",
        "## Scale",
        "",
        "Metric scale per clip: **measured** when a ceiling (or a glimpse of it) was seen and the",
        "floor-to-ceiling height set to the wall height; **assumed** when the visible wall tops or",
        "a 1.6 m camera height stood for it (distances can be off by tens of percent); unknown for",
        "clips aligned before this was recorded. `scale_source` / `scale_method` in the Parquet;",
        "`ytocc dataset NAME --require-measured-scale` leaves assumed-scale clips out.",
        "",
        "| scale | method | clips | samples |",
        "|---|---|---|---|",
        *_scale_lines(df),
        "",
        "## Backends",
        "",
        "Outputs of `synthetic-gt` backends come from synthetic ground truth, not from models.",
        *_geometry_only_lines(df),
        "",
        "| stage | backend | weights | samples |",
        "|---|---|---|---|",
        *_backend_lines(df),
        "",
        "## Parameters",
        "",
        f"voxelize marker hashes: {', '.join(f'`{h}`' for h in hashes) or '-'}",
        "",
        "Dataset and grid config at freeze time (model backends are in the table above):",
        "",
        "```yaml",
        yaml.safe_dump(params, sort_keys=False).rstrip(),
        "```",
        "",
        "## Files",
        "",
        "`train.parquet`, `val.parquet`: one row per sample (ids, paths relative to this folder,",
        "class histogram, backends). `samples/` occupancy NPZ, `frames/` RGB, `segments/` labels",
        "and region masks. Read with `storage.loaders.ytocc.YtoccDataset`.",
    ]
    if skipped:
        lines += ["", f"## Left out ({len(skipped)})", "", *(f"- {s}" for s in skipped)]
    return "\n".join(lines) + "\n"


def _write_folder(
    folder: Path, name: str, df: pd.DataFrame, cfg: Config, fp: str, skipped: list[str]
) -> None:
    for _, row in df.iterrows():  # one row per file set: the loop is over files, not pixels
        _place(row.src_sample, folder / row.sample_path)
        _place(row.src_frame, folder / row.frame_path)
        if row.src_segment is not None:
            _place(row.src_segment, folder / row.segment_path)
    for split in SPLITS:
        part = df[df.split == split].sort_values("sample_id")
        write_table(folder / f"{split}.parquet", part, SAMPLES)
    _write_record(folder, name, df, cfg, fp, skipped, datetime.now(UTC))


def _record(df: pd.DataFrame, cfg: Config, skipped: list[str]) -> dict[str, Any]:
    """What ``dataset.json`` says about where the samples come from and how they were split:
    what :func:`storage.plan.dataset_current` compares with the data root now."""
    return {
        "val_fraction": cfg.dataset.val_fraction,
        "seed": cfg.dataset.seed,
        "skipped": skipped,
        "sources": sources(df),
    }


def _write_record(
    folder: Path,
    name: str,
    df: pd.DataFrame,
    cfg: Config,
    fp: str,
    skipped: list[str],
    frozen_at: datetime,
) -> None:
    """The card (README.md) and ``dataset.json`` of the samples `df` holds."""
    write_text(folder / "README.md", dataset_card(name, df, cfg, fp, skipped, frozen_at))
    write_json(
        folder / "dataset.json",
        {
            "name": name,
            "fingerprint": fp,
            "counts": _counts(df),
            **_record(df, cfg, skipped),
            "scale_sources": scale_counts(df),
            "code_version": code_version(),
            "frozen_at": frozen_at.isoformat(timespec="seconds"),
        },
    )


def _frozen_at(old: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(old["frozen_at"])
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def sources(df: pd.DataFrame) -> dict[str, str]:
    """Clip → fingerprint of the voxelize run its samples come from."""
    return dict(sorted(zip(df.clip_id, df.voxelize_run, strict=True)))


def _remove_stale(datasets: Path, name: str) -> None:
    for p in datasets.glob(f"{TMP_PREFIX}{name}-*"):
        shutil.rmtree(p, ignore_errors=True)


def freeze(
    root: DataRoot,
    cfg: Config,
    name: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
    require_measured_scale: bool = False,
) -> FreezeSummary:
    """Freeze every finished sample under `root` into ``datasets/{name}/``.

    Re-freezing identical content keeps every file; only when the runs the samples come from,
    the split settings or what was left out changed (a stage re-ran and wrote the same bytes)
    are ``dataset.json`` and the card brought up to date, so the dataset counts as current
    again (:func:`storage.plan.dataset_current`). Different content under an existing name
    raises :class:`DatasetError` unless `force`. A split left empty (one video, or a val
    fraction of 0 or 1) is frozen as asked; :attr:`FreezeSummary.empty_splits` says so. With `require_measured_scale`, clips whose metric
    scale was assumed (or is unknown) are left out, each with its reason.
    """
    with waiting_lock(root.locks / "datasets" / f"{name}.lock"):  # one writer per dataset
        return _freeze(root, cfg, name, force, progress, require_measured_scale)


def measured_only(df: pd.DataFrame, skipped: list[str]) -> pd.DataFrame:
    """The rows of clips with a measured scale; the other clips go to `skipped` with why."""
    if df.empty:
        return df
    keep = df.scale_source == "measured"
    for clip, source, method in (
        df[~keep]
        .drop_duplicates("clip_id")[["clip_id", "scale_source", "scale_method"]]
        .itertuples(index=False)
    ):
        how = f" ({method})" if isinstance(method, str) else ""
        skipped.append(f"{clip}: scale {source}{how}, not measured (--require-measured-scale)")
    return df[keep].reset_index(drop=True)


def _freeze(
    root: DataRoot,
    cfg: Config,
    name: str,
    force: bool,
    progress: Progress | None,
    require_measured_scale: bool = False,
) -> FreezeSummary:
    dest = root.dataset_dir(name)
    df, skipped = gather_samples(root, cfg, progress)
    if require_measured_scale:
        df = measured_only(df, skipped)
    if df.empty:
        raise DatasetError(
            f"nothing to freeze under {root.root}: no clip done under this config with a readable sample"
            + (f" ({len(skipped)} left out, first: {skipped[0]})" if skipped else "")
        )
    splits = video_splits(df.video_id.tolist(), cfg.dataset.val_fraction, cfg.dataset.seed)
    df["split"] = df.video_id.map(splits)
    fp = _fingerprint(df)
    if dest.exists():
        old = read_json(dest / "dataset.json") if (dest / "dataset.json").exists() else {}
        if old.get("fingerprint") == fp:  # the same bytes: keep them, bring the record up to date
            stale = any(old.get(k) != v for k, v in _record(df, cfg, skipped).items())
            if stale:
                _write_record(dest, name, df, cfg, fp, skipped, _frozen_at(old))
            return FreezeSummary(dest, fp, _counts(df), skipped, created=False, refreshed=stale,
                                 val_fraction=cfg.dataset.val_fraction)  # fmt: skip
        if not force:
            raise DatasetError(
                f"dataset {name!r} exists at {dest} with other content (fingerprint "
                f"{old.get('fingerprint', '?')} vs {fp}); pass --force to replace it"
            )
    root.datasets.mkdir(parents=True, exist_ok=True)
    _remove_stale(root.datasets, name)
    tmp = temp_folder(root.datasets, f"{TMP_PREFIX}{name}-")
    try:
        _write_folder(tmp, name, df, cfg, fp, skipped)
        if dest.exists():
            old_dir = temp_folder(root.datasets, f"{TMP_PREFIX}{name}-old-")
            os.replace(dest, old_dir / name)
            os.replace(tmp, dest)
            shutil.rmtree(old_dir, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return FreezeSummary(dest, fp, _counts(df), skipped, created=True,
                         val_fraction=cfg.dataset.val_fraction)  # fmt: skip
