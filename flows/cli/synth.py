"""`ytocc synth`: render the synthetic house tour (tour.mp4) and its exact ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import app, fail


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder for tour.mp4 and truth/.")],
    rooms: Annotated[int, typer.Option(min=1, help="Number of furnished rooms.")] = 3,
    seconds_per_room: Annotated[
        float, typer.Option(min=0.1, help="Length of each shot (rooms and the outdoor one).")
    ] = 4.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same tour.")] = 0,
    width: Annotated[int, typer.Option(min=16, help="Frame width (even).")] = 640,
    height: Annotated[int, typer.Option(min=16, help="Frame height (even).")] = 360,
    fps: Annotated[int, typer.Option(min=1, help="Frames per second.")] = 24,
) -> None:
    """Render furnished rooms and one outdoor shot with hard cuts; write tour.mp4 and truth/."""
    from rich.progress import Progress

    from tasks.synth.tour import TourSpec, make_tour, plan

    if width % 2 or height % 2:
        fail(f"--width and --height must be even for H.264 (got {width}×{height})")
    spec = TourSpec(rooms, seconds_per_room, width, height, fps, seed)
    total = plan(spec)[1][-1].end_frame
    start = time.perf_counter()
    with Progress(transient=True) as bar:
        job = bar.add_task("rendering", total=total)
        meta = make_tour(out_dir, spec, progress=lambda n: bar.advance(job, n))
    took = time.perf_counter() - start
    typer.echo(
        f"{out_dir / 'tour.mp4'}: {meta['num_frames']} frames {width}×{height} @ {fps} fps, "
        f"{meta['shots']} shots ({rooms} rooms + 1 outdoor), truth in {out_dir / 'truth'} "
        f"({meta['num_frames'] / took:.1f} frames/s)"
    )
