"""Geometry commands: `ytocc reconstruct` on clips, `reconstruct-images` on a folder of frames,
and `align` / `clean` / `voxelize` on bare
point clouds (NPZ in, NPZ out) running the same code as the clip stages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.common import USAGE, ConfigOpt, DataOpt, SetOpt, app, config_from, fail

if TYPE_CHECKING:
    import numpy as np

InArg = Annotated[Path, typer.Argument(help="Input .npz with `points` (N,3).", show_default=False)]
OutArg = Annotated[
    Path, typer.Argument(help="Output .npz (written atomically).", show_default=False)
]
CLOUD_KEYS = ("points", "labels", "colors")


def _read_cloud_npz(path: Path, need_labels: bool = False) -> dict[str, np.ndarray]:
    """The arrays of an input cloud file, checked; exits with a one-line reason when unusable.

    `points`: numeric (N,3) with at least one finite row (non-finite rows are dropped by the
    commands); `labels`: integer (N,) in 0..11; `colors`: (N,3) in 0..255; `cam2world`:
    finite (F,4,4).
    """
    import numpy as np

    from storage.atomic import read_npz

    try:
        data = read_npz(path)
    except (OSError, ValueError) as e:
        fail(f"{path}: not a readable .npz ({e.strerror if isinstance(e, OSError) else e})", USAGE)
    pts = data.get("points")
    if pts is None or pts.ndim != 2 or pts.shape[1] != 3 or not _numeric(pts):
        got = "missing" if pts is None else f"{pts.dtype} {pts.shape}"
        fail(f"{path}: needs numeric `points` of shape (N,3), got {got}", USAGE)
    if not np.isfinite(pts).all(axis=1).any():
        fail(f"{path}: no finite point among {len(pts)}", USAGE)
    n = len(pts)
    if "labels" in data:
        labels = data["labels"]
        if not np.issubdtype(labels.dtype, np.integer):
            fail(
                f"{path}: `labels` must be integers, got {labels.dtype} (cast with astype(np.uint8))",
                USAGE,
            )
        if labels.shape != (n,):
            fail(f"{path}: `labels` must have shape ({n},), got {labels.shape}", USAGE)
        if n and (int(labels.min()) < 0 or int(labels.max()) > 11):
            fail(f"{path}: labels outside 0..11 ({int(labels.min())}..{int(labels.max())})", USAGE)
    elif need_labels:
        fail(f"{path}: needs `labels` (N,) with classes 1..11", USAGE)
    if "colors" in data:
        colors = data["colors"]
        if colors.shape != (n, 3) or not _numeric(colors):
            fail(
                f"{path}: `colors` must be numeric ({n}, 3), got {colors.dtype} {colors.shape}",
                USAGE,
            )
        if n and (colors.min() < 0 or colors.max() > 255):
            fail(f"{path}: colors outside 0..255", USAGE)
    cams = data.get("cam2world")
    if cams is not None:
        if cams.ndim != 3 or cams.shape[1:] != (4, 4) or not _numeric(cams):
            fail(
                f"{path}: `cam2world` must be numeric (F,4,4), got {cams.dtype} {cams.shape}", USAGE
            )
        if not np.isfinite(cams).all():
            fail(f"{path}: `cam2world` holds non-finite values", USAGE)
    return data


def _numeric(a: np.ndarray) -> bool:
    import numpy as np

    return bool(np.issubdtype(a.dtype, np.number)) and not np.issubdtype(
        a.dtype, np.complexfloating
    )


def _triple(text: str | None, what: str, cast: type = float) -> tuple | None:
    """'a,b,c' → a 3-tuple; exits with a one-line reason on anything else."""
    if text is None:
        return None
    try:
        parts = tuple(cast(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        fail(f"{what} must be three comma-separated numbers, got {text!r}", USAGE)
    return parts


@app.command()
def align(
    in_npz: InArg,
    out_npz: OutArg,
    report: Annotated[
        Path,
        typer.Option("--report", help="Where to write the alignment JSON.", show_default=False),
    ],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Align a cloud to a metric z-up frame (floor z=0, 2.8 m walls, Manhattan yaw)."""
    import numpy as np

    from models.geometry import transform_points
    from storage.atomic import write_json, write_npz
    from storage.formats import apply_to_poses, similarity_matrix
    from storage.markers import StageFailure
    from tasks.align import align_cloud

    cfg = config_from(None, config, set_, folder=False)
    data = _read_cloud_npz(in_npz)
    cams = data.get("cam2world")
    try:
        rep = align_cloud(data["points"], cams, cfg.align)
    except StageFailure as e:
        fail(f"cannot align {in_npz}: {e.reason}")
    out = dict(data)
    out["points"] = transform_points(similarity_matrix(rep), data["points"]).astype(np.float32)
    if cams is not None:
        out["cam2world"] = apply_to_poses(rep, cams).astype(np.float32)
    write_npz(out_npz, **out)  # cloud first, report last: a report means both are there
    write_json(report, rep)
    typer.echo(
        f"aligned {len(data['points'])} points: scale {rep['scale']:.4g} "
        f"({rep['scale_basis']}), up from {rep['up_source']}"
    )
    if rep["scale_source"] != "measured":
        typer.echo(f"warning: scale ASSUMED ({rep['scale_method']}), not measured", err=True)


@app.command()
def clean(in_npz: InArg, out_npz: OutArg, config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Remove outliers (radius + statistical filters scaled to the cloud's spacing)."""
    from storage.atomic import write_npz
    from storage.markers import StageFailure
    from tasks.clean import clean_cloud

    cfg = config_from(None, config, set_, folder=False)
    data = _read_cloud_npz(in_npz)
    n = len(data["points"])
    per_point = {k: v for k, v in data.items() if v.ndim >= 1 and len(v) == n}
    try:
        kept, stats = clean_cloud(per_point, cfg.clean)
    except StageFailure as e:
        fail(f"cannot clean {in_npz}: {e.reason}")
    write_npz(out_npz, **{**data, **kept})
    typer.echo(
        f"input {stats['input']}, finite {stats['finite']}, after radius "
        f"{stats['after_radius']}, after statistical {stats['after_statistical']}, "
        f"kept {stats['kept']}"
    )


@app.command()
def voxelize(
    in_npz: InArg,
    out_npz: OutArg,
    origin: Annotated[
        str | None,
        typer.Option(
            help="Grid min corner X,Y,Z (default: the points' min corner).", show_default=False
        ),
    ] = None,
    size: Annotated[float, typer.Option(help="Voxel edge in metres.")] = 0.08,
    dims: Annotated[str, typer.Option(help="Grid size X,Y,Z in voxels.")] = "60,60,36",
) -> None:
    """Majority-label voxel grid `target` [x,y,z] (ties → smaller id, empty 0)."""
    import numpy as np

    from models.geometry import majority_grid
    from storage.atomic import write_npz

    grid = _triple(dims, "--dims", int)
    if min(grid) <= 0 or np.prod(grid, dtype=np.float64) >= 2**31:
        fail(f"--dims must be positive with fewer than 2**31 voxels, got {dims}", USAGE)
    if not (np.isfinite(size) and size > 0):
        fail(f"--size must be a positive number of metres, got {size}", USAGE)
    corner = _triple(origin, "--origin")
    if corner is not None and not np.isfinite(corner).all():
        fail(f"--origin must be finite, got {origin}", USAGE)
    data = _read_cloud_npz(in_npz, need_labels=True)
    pts = np.asarray(data["points"], np.float64)
    finite = np.isfinite(pts).all(axis=1)
    corner = np.asarray(corner if corner is not None else pts[finite].min(axis=0), np.float64)
    target, counts = majority_grid(pts[finite], data["labels"][finite], corner, size, grid)
    write_npz(
        out_npz,
        target=target,
        voxel_origin=corner.astype(np.float32),
        voxel_size=np.float32(size),
    )
    typer.echo(
        f"{int(finite.sum())} points, {int(counts.sum())} inside, "
        f"{int((target > 0).sum())} labelled voxels of {target.size}"
    )


@app.command()
def reconstruct(
    clips: Annotated[list[str], typer.Argument(help="Clip ids.", show_default=False)],
    force: Annotated[bool, typer.Option(help="Redo clips already done.")] = False,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run the reconstruct stage on clips (backend from config: dust3r, colmap or synthetic-gt)."""
    from flows.cli.operations import run_clip_stage

    run_clip_stage("reconstruct", clips, force, config_from(data, config, set_))


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _read_frames_dir(folder: Path) -> tuple[np.ndarray, list[int]]:
    """The folder's images in name order (uint8 RGB (F,H,W,3)) and their frame numbers (the
    file stems when all are numbers, else 0..F-1); exits with a one-line reason when unusable."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        fail(f"{folder}: not a folder of frames", USAGE)
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(paths) < 2:
        fail(f"{folder}: {len(paths)} image(s) ({', '.join(IMAGE_SUFFIXES)}); need ≥ 2", USAGE)
    images = []
    for p in paths:
        try:
            with Image.open(p) as im:
                images.append(np.asarray(im.convert("RGB")))
        except (OSError, UnidentifiedImageError):
            fail(f"{p}: not a readable image", USAGE)
        if images[-1].shape != images[0].shape:
            fail(f"{p}: {images[-1].shape[1]}×{images[-1].shape[0]} differs from {paths[0].name} "
                 f"({images[0].shape[1]}×{images[0].shape[0]})", USAGE)  # fmt: skip
    stems = [p.stem for p in paths]
    numbers = [int(s) for s in stems] if all(s.isdigit() for s in stems) else range(len(paths))
    return np.stack(images), list(numbers)


@app.command("reconstruct-images")
def reconstruct_images(
    frames_dir: Annotated[
        Path, typer.Argument(help="Folder of frames (.jpg/.png, name order).", show_default=False)
    ],
    out_npz: OutArg,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Reconstruct a folder of frames into recon.npz (K, cam2world, z-depth, conf) with the
    configured backend (--set reconstruct.backend=colmap); no data root is used."""
    from storage.frames import images_as_clip
    from storage.markers import StageFailure
    from tasks.reconstruct import reconstruct_frames, write_recon_arrays

    cfg = config_from(None, config, set_, folder=False)
    if not out_npz.parent.is_dir():
        fail(f"{out_npz}: its folder does not exist", USAGE)
    images, numbers = _read_frames_dir(frames_dir)
    try:
        recon, result = reconstruct_frames(images_as_clip(images, frames_dir.name, numbers), cfg)
    except StageFailure as e:
        fail(f"{frames_dir}: {e}")
        raise  # unreachable; for type checkers
    write_recon_arrays(out_npz, recon)
    typer.echo(json.dumps({"out": str(out_npz), "backend": result.backend, **result.stats}))
