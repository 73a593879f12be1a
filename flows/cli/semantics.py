"""Semantics commands: `ytocc scene` (Places365 on images) and `ytocc segment-image`.

Both run the same model code as the indoor and segment stages on loose image files, so a user
can check weights and see what the pipeline would decide before a build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.common import USAGE, ConfigOpt, SetOpt, app, config_from, fail

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

ImagesArg = Annotated[
    list[Path], typer.Argument(help="Image files (jpg, png ...).", show_default=False)
]


def _load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """An image as uint8 RGB (H,W,3), optionally resized to (W,H); None when unreadable."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            return np.array(im.resize(size, Image.BILINEAR) if size else im)
    except (OSError, UnidentifiedImageError) as e:
        typer.echo(f"error: {path}: not a readable image ({type(e).__name__})", err=True)
        return None


@app.command()
def scene(
    images: ImagesArg,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Places365 checkpoint: file, folder, or Hub 'owner/repo/file' (default: config)."
        ),
    ] = None,
    arch: Annotated[
        str | None, typer.Option(help="resnet18 | wideresnet18 | resnet50 (default: config).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Classify images with Places365: one JSON line per image {image, indoor, top5}."""
    from tqdm import tqdm

    from models.places365 import (
        CheckpointError,
        classify,
        load_classifier,
        outdoor_scores,
        scene_labels,
        top_classes,
    )
    from models.weights import WeightsNotFound

    indoor = config_from(None, config, set_, folder=False).indoor
    cfg = indoor.places365
    try:
        model = load_classifier(weights or cfg.weights, arch or cfg.arch, device)
    except (WeightsNotFound, CheckpointError, ValueError) as e:
        fail(str(e), USAGE)
    labels = scene_labels()
    counts = {"indoor": 0, "outdoor": 0, "unreadable": 0}
    for path in tqdm(images, desc="scene", unit="img", disable=len(images) < 8):
        rgb = _load_rgb(path, (256, 256))
        if rgb is None:
            counts["unreadable"] += 1
            continue
        probs = classify(model, rgb[None], batch_size=1)
        score = float(outdoor_scores(probs, labels.outdoor, cfg.top_k)[0])
        is_indoor = score < indoor.frame_outdoor_threshold
        counts["indoor" if is_indoor else "outdoor"] += 1
        top5 = [[n, round(p, 4)] for n, p in top_classes(probs, labels.names, 5)[0]]
        record = {"image": str(path), "indoor": is_indoor, "top5": top5, "outdoor_score": score}
        typer.echo(json.dumps(record))
    typer.echo(", ".join(f"{v} {k}" for k, v in counts.items()), err=True)
    if counts["unreadable"]:
        raise typer.Exit(1)


@app.command("segment-image")
def segment_image(
    images: ImagesArg,
    out: Annotated[
        Path, typer.Option(help="Folder for {stem}.npz (labels, regions) and {stem}.png.")
    ],
    backend: Annotated[
        str | None, typer.Option(help="mask2former-ade | san (default: config).")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="Model folder, file or Hub id (default: config).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Segment images into NYU-11 labels and regions; write NPZ + a colour PNG per image."""
    from tqdm import tqdm

    from models.segmenters import MODEL_BACKENDS, load_segmenter
    from models.segmenters.queries import ClassTableError
    from models.segmenters.san import SanNotInstalled
    from models.weights import WeightsNotFound
    from storage.atomic import atomic_path
    from storage.formats import CLASS_NAMES, write_segment

    cfg = config_from(None, config, set_, folder=False).segment
    name = backend or cfg.backend
    if name not in MODEL_BACKENDS:
        fail(
            f"segment-image runs a model backend ({', '.join(MODEL_BACKENDS)}), not {name!r}", USAGE
        )
    spec = weights or getattr(cfg, cfg.subsection_name(name)).weights
    try:
        model = load_segmenter(name, spec, device)
    except (WeightsNotFound, ClassTableError, SanNotInstalled) as e:
        fail(str(e), USAGE)
    bad = 0
    for path in tqdm(images, desc="segment", unit="img", disable=len(images) < 4):
        rgb = _load_rgb(path)
        if rgb is None:
            bad += 1
            continue
        labels, regions = model.segment(rgb[None])
        write_segment(out / f"{path.stem}.npz", labels[0], regions[0])
        with atomic_path(out / f"{path.stem}.png") as tmp:
            _label_picture(rgb, labels[0]).save(tmp)
        share = {n: round(float((labels[0] == i + 1).mean()), 4) for i, n in enumerate(CLASS_NAMES)}
        record = {"image": str(path), "out": str(out / f"{path.stem}.npz"), "class_share": share}
        typer.echo(json.dumps(record))
    typer.echo(f"{len(images) - bad} segmented into {out}, {bad} unreadable", err=True)
    if bad:
        raise typer.Exit(1)


def _label_picture(rgb: np.ndarray, labels: np.ndarray) -> Image.Image:
    """The image blended with one colour per NYU-11 class (unlabelled pixels keep their colour)."""
    import numpy as np
    from PIL import Image

    palette = np.array(
        [[0, 0, 0], [120, 120, 220], [150, 110, 70], [200, 200, 200], [90, 200, 240],
         [230, 160, 40], [200, 60, 160], [60, 170, 90], [240, 220, 60], [30, 30, 200],
         [140, 80, 200], [230, 70, 70]], np.float32,
    )  # fmt: skip
    colour = palette[labels]
    alpha = np.where(labels[..., None] > 0, 0.55, 0.0)
    return Image.fromarray((rgb * (1 - alpha) + colour * alpha).astype(np.uint8))
