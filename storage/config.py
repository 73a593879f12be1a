"""The one typed config: a section per stage, loadable from YAML and overridable from the CLI.

Each stage hashes only its own section (chained with its upstream hashes, see
``storage.markers.params_hash``), so changing a parameter re-runs exactly what it affects.
Sections own their defaults; `ytocc config show` prints them all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DownloadConfig(Section):
    """yt-dlp download and validation."""

    max_height: int = Field(720, description="Highest video height to fetch (px).")
    format: str | None = Field(
        None,
        description="yt-dlp format selector; default: mp4 ≤ max_height, allowing unknown heights.",
    )
    rate_limit: str | None = Field(
        None, description="Bandwidth cap, e.g. '2M' (yt-dlp --limit-rate)."
    )
    sleep_interval_s: float = Field(0.0, description="Pause before each download (politeness).")
    max_sleep_interval_s: float = Field(
        0.0, description="Upper bound of a random pause (0: fixed)."
    )
    socket_timeout_s: float = Field(30.0, description="Network timeout per request.")
    retries: int = Field(3, description="Retries of a transient network error.")
    retry_delays_s: list[float] = Field([2.0, 10.0, 30.0], description="Back-off between retries.")
    allowed_schemes: list[str] = Field(
        ["http", "https"], description="URL schemes accepted as sources."
    )
    cookies_file: str | None = Field(None, description="Netscape cookies file passed to yt-dlp.")
    min_duration_s: float = Field(1.0, description="Shorter decoded videos fail validation.")


class ShotsConfig(Section):
    """Shot detection with PySceneDetect."""

    detector: Literal["adaptive", "content", "threshold", "hash", "histogram"] = "adaptive"
    threshold: float | None = Field(
        None, description="Detector threshold; None: the detector's default."
    )
    min_clip_s: float = Field(1.0, description="Drop clips shorter than this.")
    max_clip_s: float = Field(30.0, description="Split clips longer than this into equal parts.")
    static_min_motion: float = Field(
        0.5,
        description="Mean abs frame difference (0-255) under which a clip is static and skipped.",
    )


class FramesConfig(Section):
    """Frame sampling per clip."""

    per_clip: int = Field(22, description="Frames sampled per clip.")
    long_side: int = Field(640, description="Working size: long side in pixels.")
    blur_ratio: float = Field(
        0.35,
        description="A frame is blurry when its Laplacian variance < ratio × the clip's median.",
    )
    jpeg_quality: int = Field(95, ge=1, le=100)


class IndoorConfig(Section):
    """Places365 indoor/outdoor filter."""

    backend: Literal["places365", "synthetic-gt"] = "places365"
    weights: str = Field(
        "~/.cache/ytocc/places365",
        description="Checkpoint file, a folder holding '{arch}_places365.pth.tar' (the official "
        "name), or 'hf-owner/repo/filename' on the Hugging Face Hub.",
    )
    arch: Literal["resnet18", "wideresnet18", "resnet50"] = "resnet18"
    top_k: int = Field(10, description="Classes averaged for a frame's outdoor score.")
    frame_outdoor_threshold: float = Field(
        0.5, description="Frame outdoor when the mean outdoor flag of its top-k classes >= this."
    )
    clip_outdoor_share: float = Field(
        0.5, description="Clip dropped when outdoor frames share > this."
    )
    batch_size: int = 16
    device: str = "auto"
    threads: int = Field(0, description="CPU threads for torch (0: torch's default).")


class ReconstructConfig(Section):
    """Per-clip camera, depth and point-map estimation."""

    backend: Literal["dust3r", "synthetic-gt"] = "dust3r"
    weights: str = Field(
        "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt", description="Local path or HF id."
    )
    image_size: int = Field(512, description="Network input size (224 for the 224 model).")
    graph: str = Field("complete", description="Pair graph for small clips.")
    sparse_graph: str = Field(
        "swin-4", description="Pair graph above complete_max_frames or after OOM."
    )
    complete_max_frames: int = Field(24, description="Largest clip that uses the complete graph.")
    batch_size: int = 4
    niter: int = Field(300, description="Global alignment iterations.")
    lr: float = 0.01
    schedule: Literal["cosine", "linear"] = "cosine"
    min_conf: float = Field(1.5, description="Confidence under which a point is not counted.")
    min_conf_points_frac: float = Field(0.1, description="Fail when fewer confident points.")
    max_fov_deg: float = Field(
        170.0, description="Fail when the focal implies a wider horizontal field of view."
    )
    min_trajectory_extent: float = Field(
        1e-3, description="Fail when camera centres span less than this × scene depth (collapsed)."
    )
    device: str = "auto"
    # synthetic-gt: what DUSt3R would hand downstream (arbitrary similarity, noise, outliers)
    synth_depth_noise: float = Field(0.01, description="Relative depth noise (σ).")
    synth_outlier_frac: float = Field(0.01, description="Share of pixels given a random depth.")
    synth_similarity: bool = Field(True, description="Apply a random rotation/scale/translation.")
    seed: int = 0


class CleanConfig(Section):
    """Point-cloud outlier removal (Open3D)."""

    conf_threshold: float = Field(1.5, description="Drop points under this DUSt3R confidence.")
    points_per_frame: int = Field(
        100_000, ge=1, description="Pixels back-projected per frame at most (an even pixel stride)."
    )
    downsample_factor: float = Field(
        2.0, description="Filter on a voxel grid of this × the natural point spacing (speed)."
    )
    filter_cells: int = Field(
        300_000,
        ge=1000,
        description="Grow the filter grid's cell so about this many cells hold a surface (speed).",
    )
    radius_factor: float = Field(
        4.0, description="Radius filter radius, × the filter grid's cell (see filter_cells)."
    )
    consensus_views: int = Field(
        4, ge=0, description="Fuse each point's depth with this many frames on each side (0: off)."
    )
    consensus_tolerance: float = Field(
        0.05, gt=0, description="Relative depth gap under which another view supports a point."
    )
    radius_min_points: int = 4
    stat_neighbors: int = 20
    stat_std_ratio: float = 2.0
    min_points: int = Field(1000, description="Fail when fewer points survive.")


class AlignConfig(Section):
    """z-up, Manhattan yaw and metric scale."""

    wall_height_m: float = Field(2.8, description="Floor-to-ceiling height the scene is scaled to.")
    lattice_m: float = Field(
        0.08, description="Voxel lattice walls are centred in (the voxel size; 0 leaves x-y as is)."
    )
    ransac_distance_factor: float = Field(
        2.0, description="Plane inlier distance, × median spacing."
    )
    ransac_iterations: int = 2000
    gravity_max_angle_deg: float = Field(
        30.0, description="Floor candidates must be within this angle of the cameras' up prior."
    )
    manhattan: bool = True
    min_floor_support: float = Field(
        0.25,
        description="The floor (the lowest level plane) must hold this share of the best level plane's points.",
    )


class SegmentConfig(Section):
    """Per-frame NYU-11 labels and region masks."""

    backend: Literal["mask2former-ade", "san", "synthetic-gt"] = "mask2former-ade"
    weights: str = Field(
        "facebook/mask2former-swin-tiny-ade-semantic", description="Local path or HF id."
    )
    batch_size: int = 4
    device: str = "auto"
    threads: int = Field(0, description="CPU threads for torch (0: torch's default).")


class VoxelConfig(Section):
    """Per-frame semantic occupancy grids."""

    dims: tuple[int, int, int] = (60, 60, 36)
    voxel_size: float = 0.08
    max_depth_m: float = Field(
        10.0, description="Ignore depths beyond this when casting free space."
    )
    min_points: int = Field(
        2, description="Points a voxel needs to count as occupied (outlier guard)."
    )


class DatasetConfig(Section):
    """Freezing a dataset."""

    val_fraction: float = 0.15
    seed: int = 0


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # YouTube-Occ's schedules (AdamW, 30 epochs, multistep ×0.1; milestone 25 and weight decay
    # 1e-4 as in the schedule configs of Symphonies, the paper's network; batch 4 = 4 GPUs × 1).
    "paper-pretrain": {"pretrain_lr": 8e-4, "epochs": 30, "milestones": [25],
                       "weight_decay": 1e-4, "batch_size": 4},
    "paper-finetune": {"finetune_lr": 2e-4, "epochs": 30, "milestones": [25],
                       "weight_decay": 1e-4, "batch_size": 4},
    # MonoScene's NYUv2 training (its train script and README: AdamW 1e-4, weight decay 1e-4,
    # 30 epochs, ×0.1 at epoch 20, batch 4, free-class weight 0.05).
    "monoscene-nyu": {"network": "monoscene", "finetune_lr": 1e-4, "epochs": 30,
                      "milestones": [20], "weight_decay": 1e-4, "batch_size": 4,
                      "class_weighting": "monoscene-nyu"},
}  # fmt: skip
"""Named training schedules: ``train.preset`` fills every key it names that is not set."""


class TrainConfig(Section):
    """Pretraining and fine-tuning defaults (see PAPER_FACTS.md)."""

    preset: str | None = Field(
        None, description=f"Schedule preset ({', '.join(TRAIN_PRESETS)}); explicit keys win."
    )

    embed_weights: str = Field("facebook/dinov2-small", description="DINOv2 path or HF id.")
    temperature: float = 0.07
    pretrain_lr: float = 8e-4
    finetune_lr: float = 2e-4
    epochs: int = 30
    milestones: list[int] = [20, 25]
    batch_size: int = 4
    device: str = "auto"
    seed: int = 0
    network: str = Field(
        "monoscene-lite", description="Occupancy network (models.occupancy.registry)."
    )
    net_args: dict[str, Any] = Field(
        default_factory=dict, description="Extra constructor arguments of the network (sizes)."
    )
    feature_dim: int = Field(
        384, description="Voxel feature width D when no embedder sets it (dinov2-small: 384)."
    )
    image_hw: tuple[int, int] | None = Field(
        None, description="Resize images (and intrinsics) to (H, W); None keeps the stored size."
    )
    weight_decay: float = 1e-4
    pixel_stride: int = Field(
        4, description="Pretraining matches every n-th pixel (rows and columns)."
    )
    embed_input_size: int = Field(224, description="Short side of the DINOv2 input (px).")
    superpixels: Literal["regions", "slic"] = Field(
        "regions",
        description="Superpixels: the dataset's region masks (SLIC where absent) or SLIC.",
    )
    slic_segments: int = Field(64, description="SLIC segments per image (fallback superpixels).")
    class_weighting: Literal["inverse_log", "none", "monoscene-nyu"] = Field(
        "inverse_log",
        description="Fine-tuning CE weights: 1/ln(1.02 + class frequency), none, or "
        "MonoScene's NYUv2 weights (0.05 free, 1 each class).",
    )
    label_fractions: list[float] = Field(
        [0.1, 0.2, 0.5, 1.0], description="Label fractions of the label-efficiency flow."
    )
    num_workers: int = Field(0, description="DataLoader worker processes.")
    amp: bool = Field(True, description="Mixed precision on a GPU (bfloat16, else float16).")
    accumulate_steps: int = Field(
        1, ge=1, description="Batches whose gradients add up before each optimiser step."
    )
    checkpoint_every: int = Field(
        0,
        ge=0,
        description="Also save a resumable checkpoint every N optimiser steps (0: per epoch).",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            if data["preset"] not in TRAIN_PRESETS:
                raise ValueError(
                    f"unknown train.preset {data['preset']!r}; known: {sorted(TRAIN_PRESETS)}"
                )
            return {**TRAIN_PRESETS[data["preset"]], **data}
        return data


class RunConfig(Section):
    """How flows execute."""

    task_runner: Literal["local", "ray", "dask"] = "local"
    ray_address: str | None = Field(
        None, description="Existing Ray cluster; None starts a local one."
    )
    gpu_slots: int = Field(1, description="Reconstructions running at once (GPU concurrency).")
    max_workers: int = Field(2, description="CPU tasks running at once (local runner).")
    ray_gpus: float | None = Field(
        None,
        ge=0,
        description="On Ray, GPUs each clip task (reconstruct runs inside it) requests; "
        "None: 1 when a node of the cluster has a GPU, else 0.",
    )


class Config(BaseModel):
    """Everything ytocc can be told. Load with :func:`load_config`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data: Path | None = Field(None, description="Data root; default $YTOCC_DATA or ./data.")
    sources: list[str] = Field(default_factory=list, description="Sources for scheduled builds.")
    cron: str = Field("0 2 * * *", description="Nightly schedule of the served build.")
    truth_dir: Path | None = Field(
        None,
        description="Ground truth of a synthetic tour (`ytocc synth`), read by synthetic-gt backends.",
    )
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    shots: ShotsConfig = Field(default_factory=ShotsConfig)
    frames: FramesConfig = Field(default_factory=FramesConfig)
    indoor: IndoorConfig = Field(default_factory=IndoorConfig)
    reconstruct: ReconstructConfig = Field(default_factory=ReconstructConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    align: AlignConfig = Field(default_factory=AlignConfig)
    segment: SegmentConfig = Field(default_factory=SegmentConfig)
    voxelize: VoxelConfig = Field(default_factory=VoxelConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    def section(self, stage: str) -> BaseModel:
        """The config section a stage hashes into its marker."""
        return getattr(self, stage)


class ConfigError(ValueError):
    """A config file or override that cannot be applied."""


def _parse_value(raw: str) -> Any:
    return yaml.safe_load(raw) if raw != "" else ""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML) to a config dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. reconstruct.niter=100)")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = _parse_value(raw)
    return data


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    data: str | os.PathLike[str] | None = None,
) -> Config:
    """Defaults ← YAML file ← ``KEY=VALUE`` overrides ← explicit `data` root."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        loaded = yaml.safe_load(p.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a mapping, not {type(loaded).__name__}")
        raw = loaded
    apply_overrides(raw, overrides or [])
    if data is not None:
        raw["data"] = str(data)
    try:
        return Config.model_validate(raw)
    except Exception as e:  # pydantic's ValidationError lists every bad key
        raise ConfigError(str(e)) from e


def dump_config(cfg: Config) -> str:
    """The config as YAML (what `ytocc config show` prints)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
