"""The one typed config: a section per stage, loadable from YAML and overridable from the CLI.

A model stage's section holds the stage's own knobs, a ``backend`` name and one subsection
per backend (``reconstruct.dust3r.*``, ``reconstruct.synthetic_gt.*``, ...). A stage's key
hashes its own knobs plus the chosen backend's subsection only (:meth:`Section.key_params`),
so a knob of another backend never invalidates anything. Every number carries its bounds;
a bad value is one line naming the key (:class:`ConfigError`). The voxel grid is defined here
(``voxelize.dims``, ``voxelize.voxel_size``) and nowhere else. Sections own their defaults;
`ytocc config show` prints them all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

RUNTIME = {"runtime": True}
"""``json_schema_extra`` of a field that changes where a stage runs, not what it computes: it
is left out of the stage's key (devices, thread counts)."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def key_params(self) -> dict[str, Any]:
        """The parameters a stage's key hashes: every field except those marked ``RUNTIME``
        (where and how fast it runs, not what it computes), in JSON form."""
        runtime = {
            name
            for name, info in type(self).model_fields.items()
            if (info.json_schema_extra or {}).get("runtime")  # type: ignore[union-attr]
        }
        return self.model_dump(mode="json", exclude=runtime)


class BackendSection(Section):
    """A model stage's section: its own knobs, ``backend``, and one subsection per backend.

    A backend named ``a-b`` is configured in the subsection ``a_b``; :meth:`key_params` keeps
    only the chosen one, so another backend's knobs do not reach the stage's key.
    """

    backend: str

    @staticmethod
    def subsection_name(backend: str) -> str:
        """The field holding `backend`'s parameters (``synthetic-gt`` → ``synthetic_gt``)."""
        return backend.replace("-", "_")

    def backends(self) -> tuple[str, ...]:
        """Names of the backends this section configures (one subsection each)."""
        return tuple(
            name.replace("_", "-")
            for name, info in type(self).model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
        )

    def backend_params(self) -> Section:
        """The chosen backend's subsection."""
        return getattr(self, self.subsection_name(self.backend))

    def key_params(self) -> dict[str, Any]:
        """Own knobs, the backend name and the chosen backend's subsection only."""
        others = {self.subsection_name(b) for b in self.backends()}
        own = {k: v for k, v in super().key_params().items() if k not in others}
        return own | {"params": self.backend_params().key_params()}

    @model_validator(mode="after")
    def _backend_has_subsection(self) -> BackendSection:
        if self.backend not in self.backends():
            raise ValueError(f"backend {self.backend!r} is not one of {', '.join(self.backends())}")
        return self


class DownloadConfig(Section):
    """yt-dlp download and validation."""

    max_height: int = Field(720, ge=1, description="Highest video height to fetch (px).")
    format: str | None = Field(
        None,
        description="yt-dlp format selector; default: mp4 ≤ max_height, allowing unknown heights.",
    )
    rate_limit: str | None = Field(
        None, description="Bandwidth cap, e.g. '2M' (yt-dlp --limit-rate)."
    )
    sleep_interval_s: float = Field(
        0.0, ge=0, description="Pause before each download (politeness)."
    )
    max_sleep_interval_s: float = Field(
        0.0, ge=0, description="Upper bound of a random pause (0: fixed)."
    )
    socket_timeout_s: float = Field(30.0, gt=0, description="Network timeout per request.")
    retries: int = Field(3, ge=0, description="Retries of a transient network error.")
    retry_delays_s: list[Annotated[float, Field(ge=0)]] = Field(
        [2.0, 10.0, 30.0], description="Back-off between retries."
    )
    allowed_schemes: list[str] = Field(
        ["http", "https"], description="URL schemes accepted as sources."
    )
    cookies_file: str | None = Field(None, description="Netscape cookies file passed to yt-dlp.")
    min_duration_s: float = Field(1.0, ge=0, description="Shorter decoded videos fail validation.")


class ShotsConfig(Section):
    """Shot detection with PySceneDetect."""

    detector: Literal["adaptive", "content", "threshold", "hash", "histogram"] = "adaptive"
    threshold: float | None = Field(
        None, description="Detector threshold; None: the detector's default."
    )
    min_clip_s: float = Field(1.0, gt=0, description="Drop clips shorter than this.")
    max_clip_s: float = Field(
        30.0, gt=0, description="Split clips longer than this into equal parts."
    )
    min_shot_frames: int = Field(
        1, ge=1, le=1000, description="Least frames between two cuts (a short shot is a shot)."
    )
    fade_threshold: float = Field(
        0.0,
        ge=0,
        le=255,
        description="ThresholdDetector's black level for fades through black (0: off; off by "
        "default: the transition search finds such fades, ThresholdDetector costs +28 % CPU).",
    )
    transition_scales_s: list[float] = Field(
        [0.25, 0.5, 1.0, 2.0, 4.0],
        min_length=1,
        description="Window lengths (s) searched for dissolves, fades and wipes.",
    )
    transition_ratio: float = Field(
        3.0, ge=1.5, le=20, description="A window changing this × its neighbours is a transition."
    )
    transition_min_change: float = Field(
        12.0, ge=1, le=255, description="Least mean abs thumbnail change (0-255) of a transition."
    )
    coherence_max_distance: float = Field(
        0.4,
        gt=0,
        le=1,
        description="A clip whose first and last second differ more than this "
        "(hue-saturation histogram Bhattacharyya distance) shows two scenes and is dropped.",
    )
    static_min_motion: float = Field(
        0.5,
        ge=0,
        description="Mean abs frame difference (0-255) under which a clip is static and skipped.",
    )


class FramesConfig(Section):
    """Frame sampling per clip."""

    per_clip: int = Field(22, ge=2, description="Frames sampled per clip (reconstruction needs 2).")
    long_side: int = Field(640, ge=16, description="Working size: long side in pixels.")
    blur_ratio: float = Field(
        0.35,
        ge=0,
        description="A frame is always blurry when its Laplacian variance < ratio × the clip's "
        "median; above that, when it is a robust outlier below the clip's own spread.",
    )
    jpeg_quality: int = Field(95, ge=1, le=100)


class TorchRuntime(Section):
    """Where a network runs; runtime knobs, kept out of stage keys."""

    device: str = Field("auto", json_schema_extra=RUNTIME)
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads for torch (0: torch's default).",
        json_schema_extra=RUNTIME,
    )


class Places365Config(TorchRuntime):
    """The official Places365 scene classifier."""

    weights: str = Field(
        "~/.cache/ytocc/places365",
        description="Checkpoint file, a folder holding '{arch}_places365.pth.tar' (the official "
        "name), or 'hf-owner/repo/filename' on the Hugging Face Hub.",
    )
    arch: Literal["resnet18", "wideresnet18", "resnet50"] = "resnet18"
    top_k: int = Field(
        10, ge=1, le=365, description="Classes averaged for a frame's outdoor score."
    )
    batch_size: PositiveInt = 16


class SyntheticTruthConfig(Section):
    """A synthetic-gt backend with no knobs of its own: it reads the tour's truth (`truth_dir`)."""


class NoBackendConfig(Section):
    """``none``: the stage runs no model (geometry-only datasets); no knobs."""


class IndoorConfig(BackendSection):
    """Places365 indoor/outdoor filter."""

    backend: Literal["places365", "none", "synthetic-gt"] = "places365"
    frame_outdoor_threshold: float = Field(
        0.5, ge=0, le=1, description="Frame outdoor when its outdoor score >= this."
    )
    clip_outdoor_share: float = Field(
        0.5, ge=0, le=1, description="Clip dropped when outdoor frames share > this."
    )
    places365: Places365Config = Field(default_factory=Places365Config)
    none: NoBackendConfig = Field(default_factory=NoBackendConfig)
    synthetic_gt: SyntheticTruthConfig = Field(default_factory=SyntheticTruthConfig)


class Dust3rConfig(Section):
    """DUSt3R pairwise point maps and global alignment (GPU when present)."""

    weights: str = Field(
        "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt", description="Local path or HF id."
    )
    image_size: int = Field(512, ge=16, description="Network input size (224 for the 224 model).")
    graph: str = Field("complete", description="Pair graph for small clips.")
    sparse_graph: str = Field(
        "swin-4", description="Pair graph above complete_max_frames or after OOM."
    )
    complete_max_frames: int = Field(
        24, ge=2, description="Largest clip that uses the complete graph."
    )
    batch_size: PositiveInt = 4
    niter: PositiveInt = Field(300, description="Global alignment iterations.")
    lr: float = Field(0.01, gt=0)
    schedule: Literal["cosine", "linear"] = "cosine"
    device: str = Field("auto", json_schema_extra=RUNTIME)
    seed: int = 0


class SyntheticReconstructConfig(Section):
    """synthetic-gt: what DUSt3R would hand downstream (arbitrary similarity, noise, outliers)."""

    depth_noise: float = Field(0.01, ge=0, description="Relative depth noise (σ).")
    outlier_frac: float = Field(
        0.01, ge=0, le=1, description="Share of pixels given a random depth."
    )
    similarity: bool = Field(True, description="Apply a random rotation/scale/translation.")
    seed: int = 0


class ColmapConfig(Section):
    """colmap: SfM of the clip (pycolmap) then dense depth (PatchMatch on CUDA, else plane sweep)."""

    camera_model: Literal["SIMPLE_PINHOLE", "PINHOLE"] = Field(
        "SIMPLE_PINHOLE", description="One shared camera per clip (recon.npz stores pinhole K)."
    )
    mapper: Literal["global", "incremental"] = Field(
        "global", description="GLOMAP-style global mapping (fast) or incremental mapping."
    )
    max_features: PositiveInt = Field(8192, description="SIFT features per frame at most.")
    min_registered_frac: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Fail the clip when SfM registers a smaller share of frames (0.9: a 22-frame "
        "clip may lose 2 blurred frames; more means SfM split the clip or lost the scene).",
    )
    dense: Literal["auto", "patch-match", "plane-sweep"] = Field(
        "auto",
        description="Dense depth: COLMAP PatchMatch (needs pycolmap-cuda12), the CPU "
        "plane sweep, or auto (PatchMatch when pycolmap has CUDA).",
    )
    sweep_scale: float = Field(
        0.5, gt=0, le=1, description="Plane sweep works at this × the stored size (speed)."
    )
    sweep_levels: PositiveInt = Field(
        1,
        description="Pyramid levels swept (each half the last's size): a coarser level's "
        "wider window finds texture where a finer one saw none, and fills only those pixels "
        "(2: more depth coverage, as many wrong voxels as right ones on ICL; README).",
    )
    sweep_planes: int = Field(64, ge=3, description="Depth planes, uniform in inverse depth.")
    neighbours: PositiveInt = Field(
        4, description="Views compared with each frame (most shared sparse points)."
    )
    window: int = Field(7, ge=3, description="ZNCC window side at the sweep scale (px, odd).")
    min_angle_deg: float = Field(
        1.0, ge=0, description="A neighbour needs this median triangulation angle (baseline)."
    )
    min_texture: float = Field(
        0.01, ge=0, description="Grey std (0-1) under which a window is textureless (no depth)."
    )
    min_ncc: float = Field(0.3, ge=-1, le=1, description="Best ZNCC under which no depth.")
    consistency_tolerance: float = Field(
        0.02, gt=0, description="Relative z gap under which a neighbour's depth agrees."
    )
    min_consistent: PositiveInt = Field(
        1, description="Agreeing neighbours a depth needs (its confidence is 1 + that count)."
    )
    threads: int = Field(-1, description="CPU threads (-1: all).", json_schema_extra=RUNTIME)


class ReconstructConfig(BackendSection):
    """Per-clip camera, depth and point-map estimation; the checks apply to every backend."""

    backend: Literal["dust3r", "colmap", "synthetic-gt"] = "dust3r"
    min_conf: float = Field(1.5, ge=0, description="Confidence under which a point is not counted.")
    min_conf_points_frac: float = Field(
        0.1, ge=0, le=1, description="Fail when fewer confident points."
    )
    max_fov_deg: float = Field(
        170.0,
        gt=0,
        lt=180,
        description="Fail when the focal implies a wider horizontal field of view.",
    )
    min_trajectory_extent: float = Field(
        1e-3,
        ge=0,
        description="Fail when camera centres span less than this × scene depth (collapsed).",
    )
    dust3r: Dust3rConfig = Field(default_factory=Dust3rConfig)
    colmap: ColmapConfig = Field(default_factory=ColmapConfig)
    synthetic_gt: SyntheticReconstructConfig = Field(default_factory=SyntheticReconstructConfig)


class CleanConfig(Section):
    """Point-cloud outlier removal (Open3D)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    conf_threshold: float = Field(
        1.5, ge=0, description="Drop points under this DUSt3R confidence."
    )
    points_per_frame: int = Field(
        100_000, ge=1, description="Pixels back-projected per frame at most (an even pixel stride)."
    )
    downsample_factor: float = Field(
        2.0, gt=0, description="Filter on a voxel grid of this × the natural point spacing (speed)."
    )
    filter_cells: int = Field(
        300_000,
        ge=1000,
        description="Grow the filter grid's cell so about this many cells hold a surface (speed).",
    )
    radius_factor: float = Field(
        4.0, gt=0, description="Radius filter radius, × the filter grid's cell (see filter_cells)."
    )
    consensus_views: int = Field(
        4, ge=0, description="Fuse each point's depth with this many frames on each side (0: off)."
    )
    consensus_tolerance: float = Field(
        0.05, gt=0, description="Relative depth gap under which another view supports a point."
    )
    radius_min_points: int = Field(4, ge=0)
    stat_neighbors: PositiveInt = 20
    stat_std_ratio: float = Field(2.0, gt=0)
    stat_floor_ratio: float = Field(
        1.5,
        gt=1.0,
        description="The statistical filter keeps points whose mean neighbour "
        "distance is under this × the median (surface rims), whatever the spread.",
    )
    min_points: int = Field(1000, ge=1, description="Fail when fewer points survive.")


class AlignConfig(Section):
    """z-up, Manhattan yaw and metric scale."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    wall_height_m: float = Field(
        2.8, gt=0, description="Floor-to-ceiling height the scene is scaled to."
    )
    lattice_m: float = Field(
        0.08,
        ge=0,
        description="Voxel lattice walls are centred in (the voxel size; 0 leaves x-y as is).",
    )
    ransac_distance_factor: float = Field(
        2.0,
        gt=0,
        description="Plane inlier distance, × median spacing (widened to 3 × the cloud's "
        "measured surface noise when that is larger: multi-view-stereo depth).",
    )
    ransac_iterations: PositiveInt = 2000
    gravity_max_angle_deg: float = Field(
        30.0,
        gt=0,
        le=90,
        description="Floor candidates must be within this angle of the cameras' up prior.",
    )
    manhattan: bool = True
    min_floor_support: float = Field(
        0.25,
        ge=0,
        le=1,
        description="The floor (the lowest level plane) must hold this share of the best level plane's points.",
    )


class SegmenterModelConfig(TorchRuntime):
    """A segmentation network's weights and how it runs."""

    weights: str = Field(description="Local path or HF id.")
    batch_size: PositiveInt = 4


class Mask2FormerConfig(SegmenterModelConfig):
    """Mask2Former trained on ADE20K-150 (transformers), mapped to NYU-11."""

    weights: str = Field(
        "facebook/mask2former-swin-tiny-ade-semantic", description="Local path or HF id."
    )


class SanConfig(SegmenterModelConfig):
    """SAN open-vocabulary segmentation (needs detectron2 and the SAN repository)."""

    weights: str = Field("Mendel192/san/san_vit_b_16.pth", description="Local path or HF spec.")


class SegmentConfig(BackendSection):
    """Per-frame NYU-11 labels and region masks."""

    backend: Literal["mask2former-ade", "san", "none", "synthetic-gt"] = "mask2former-ade"
    mask2former_ade: Mask2FormerConfig = Field(default_factory=Mask2FormerConfig)
    san: SanConfig = Field(default_factory=SanConfig)
    none: NoBackendConfig = Field(default_factory=NoBackendConfig)
    synthetic_gt: SyntheticTruthConfig = Field(default_factory=SyntheticTruthConfig)


GRID_DIMS: tuple[int, int, int] = (60, 60, 36)
"""Default of ``voxelize.dims`` (the paper's grid); code reads the config, not this."""
VOXEL_SIZE = 0.08
"""Default of ``voxelize.voxel_size`` (m)."""


class VoxelConfig(Section):
    """Per-frame semantic occupancy grids: the one definition of the grid."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    dims: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        GRID_DIMS, description="Grid size in voxels (x, y, z)."
    )
    voxel_size: float = Field(VOXEL_SIZE, gt=0, description="Voxel edge (m).")
    max_depth_m: float = Field(
        10.0, gt=0, description="Ignore depths beyond this when casting free space."
    )
    min_points: int = Field(
        2, ge=1, description="Points a voxel needs to count as occupied (outlier guard)."
    )


class DatasetConfig(Section):
    """Freezing a dataset."""

    val_fraction: float = Field(0.15, ge=0, le=1)
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
    temperature: float = Field(0.07, gt=0)
    pretrain_lr: float = Field(8e-4, gt=0)
    finetune_lr: float = Field(2e-4, gt=0)
    epochs: PositiveInt = 30
    milestones: list[PositiveInt] = [20, 25]
    batch_size: PositiveInt = 4
    device: str = "auto"
    seed: int = 0
    network: str = Field(
        "monoscene-lite", description="Occupancy network (models.occupancy.registry)."
    )
    net_args: dict[str, Any] = Field(
        default_factory=dict, description="Extra constructor arguments of the network (sizes)."
    )
    feature_dim: int = Field(
        384, ge=1, description="Voxel feature width D when no embedder sets it (dinov2-small: 384)."
    )
    image_hw: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="Resize images (and intrinsics) to (H, W); None keeps the stored size."
    )
    weight_decay: float = Field(1e-4, ge=0)
    pixel_stride: int = Field(
        4, ge=1, description="Pretraining matches every n-th pixel (rows and columns)."
    )
    embed_input_size: int = Field(224, ge=14, description="Short side of the DINOv2 input (px).")
    superpixels: Literal["regions", "slic"] = Field(
        "regions",
        description="Superpixels: the dataset's region masks (SLIC where absent) or SLIC.",
    )
    slic_segments: int = Field(
        64, ge=1, description="SLIC segments per image (fallback superpixels)."
    )
    class_weighting: Literal["inverse_log", "none", "monoscene-nyu"] = Field(
        "inverse_log",
        description="Fine-tuning CE weights: 1/ln(1.02 + class frequency), none, or "
        "MonoScene's NYUv2 weights (0.05 free, 1 each class).",
    )
    label_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        [0.1, 0.2, 0.5, 1.0], description="Label fractions of the label-efficiency flow."
    )
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
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
    gpu_slots: int = Field(
        1, ge=1, description="Reconstructions running at once (GPU concurrency)."
    )
    max_workers: int = Field(2, ge=1, description="CPU tasks running at once (local runner).")
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
        description="Ground truth for synthetic-gt backends: one `ytocc synth` OUT_DIR (or its "
        "truth/) or a folder of them; each clip reads the truth of its own video (video_sha256).",
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

    def section(self, name: str) -> Section:
        """The config section called `name` (a stage's section is named in the stage graph)."""
        return getattr(self, name)


class ConfigError(ValueError):
    """A config file or override that cannot be applied."""


def _parse_value(raw: str) -> Any:
    return yaml.safe_load(raw) if raw != "" else ""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML) to a config dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} is not KEY=VALUE (e.g. reconstruct.dust3r.niter=100)"
            )
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
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(
                f"config file {p}: not valid YAML{where} ({getattr(e, 'problem', None) or e})"
            ) from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {p}: cannot be read ({e})") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a mapping, not {type(loaded).__name__}")
        raw = loaded
    apply_overrides(raw, overrides or [])
    if data is not None:
        raw["data"] = str(data)
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(one_line(e)) from None


def one_line(e: ValidationError) -> str:
    """Every bad key of a validation error on one line: ``key: message (got value)``."""
    parts = []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"]) or "config"
        got = f" (got {err['input']!r})" if err["type"] != "extra_forbidden" else ""
        parts.append(f"{key}: {err['msg']}{got}")
    return "; ".join(parts)


def dump_config(cfg: Config) -> str:
    """The config as YAML (what `ytocc config show` prints)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
