"""surface_noise measures how thick a cloud's surfaces are, in the cloud's own units."""

import numpy as np
import pytest

from models.geometry import cloud_spacing
from models.surface_noise import surface_noise
from tests.support.rooms import box_room


@pytest.mark.parametrize("sigma", [0.0, 0.01, 0.03])
@pytest.mark.parametrize("units", [1.0, 37.0])
def test_the_noise_of_a_plane_is_recovered_in_any_units(sigma: float, units: float) -> None:
    rng = np.random.default_rng(0)
    uv = rng.uniform(0, 4, (80_000, 2))  # 4 × 4 m at ~1.4 cm spacing
    pts = np.c_[uv, rng.normal(0, sigma, len(uv))] * units
    noise = surface_noise(pts, cloud_spacing(pts).spacing)
    # a neighbourhood of 8 spacings (~11 cm) spans ≥ 3.7 σ even at σ = 3 cm: within 15 % of σ
    # (the 2000-fit median alone is good to ~3 %; the rest is the finite neighbourhood)
    assert noise == pytest.approx(sigma * units, rel=0.15, abs=1e-9 * units)


def test_edges_and_corners_do_not_move_the_estimate() -> None:
    """A box room with 0.1-spacing jitter: corners and the table's rim are a minority of
    neighbourhoods, so the median stays at the jitter (edges alone would read ~ a spacing)."""
    pts, _, _ = box_room(spacing=0.04)
    noise = surface_noise(pts, cloud_spacing(pts).spacing)
    assert noise == pytest.approx(0.004, rel=0.25)  # box_room jitters by σ = 0.1 × 4 cm


def test_degenerate_inputs_give_zero() -> None:
    pts = np.random.default_rng(0).normal(size=(5, 3))
    assert surface_noise(pts, 0.1) == 0.0  # fewer points than a neighbourhood needs
    assert surface_noise(np.zeros((100, 3)), 0.0) == 0.0  # no spacing: no scale
