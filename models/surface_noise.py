"""How thick a cloud's surfaces are: the depth noise a plane fit must tolerate, from the data.

Owns :func:`surface_noise`, which align uses to widen its RANSAC plane distance when the cloud
is noisier than its point spacing suggests (multi-view-stereo depth: a plane sweep's surfaces are
1-2 point spacings thick, a depth sensor's or a rendered depth's well under one), so no backend
needs a hand-set tolerance.

Method: the classic local-PCA noise estimate of point-cloud processing (Pauly, Gross & Kobbelt,
"Efficient simplification of point-sampled surfaces", IEEE Visualization 2002: the smallest
eigenvalue of a neighbourhood's covariance is the variance of its points about their best plane),
taken at a random set of seed points and summarised by the median, so edges, corners and
curved furniture (a minority of neighbourhoods, with large residuals) do not move it.
"""

from __future__ import annotations

import numpy as np

SEEDS = 2000
"""Neighbourhoods fitted: the median of 2000 is known to about ±3 % (1.25 σ/√n of a median)."""
RADIUS_SPACINGS = 8.0
"""Neighbourhood radius in point spacings: ~150-200 points on a surface sampled at the spacing
(a stable fit), several noise widths across when the noise is 1-2 spacings (plane-sweep depth),
and a few centimetres in a room, where walls, floor and furniture are locally flat."""
MAX_NEIGHBOURS = 256
"""At most this many nearest points per neighbourhood (bounds the cost in dense clusters)."""
MIN_NEIGHBOURS = 10
"""A neighbourhood with fewer points (an isolated speck) has no meaningful plane."""


def surface_noise(points: np.ndarray, spacing: float, seed: int = 0) -> float:
    """Robust RMS distance (cloud units) of points to their local surface; 0 when unknown.

    ``points`` (N,3) finite, duplicates removed; ``spacing`` the cloud's point spacing
    (:func:`models.geometry.cloud_spacing`). For up to ``SEEDS`` random points, the points within
    ``RADIUS_SPACINGS`` × ``spacing`` (at most ``MAX_NEIGHBOURS`` nearest) are fitted with a plane
    by PCA; the RMS residual is the square root of the covariance's smallest eigenvalue. Returns
    the median over neighbourhoods with ≥ ``MIN_NEIGHBOURS`` points (0 when there are none or
    ``spacing`` ≤ 0).
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    if spacing <= 0 or len(pts) < MIN_NEIGHBOURS:
        return 0.0
    rng = np.random.default_rng(seed)
    seeds = pts[rng.choice(len(pts), min(SEEDS, len(pts)), replace=False)]
    k = min(MAX_NEIGHBOURS, len(pts))
    dist, idx = cKDTree(pts).query(seeds, k=k, distance_upper_bound=RADIUS_SPACINGS * spacing)
    dist, idx = dist.reshape(len(seeds), k), idx.reshape(len(seeds), k)
    inside = np.isfinite(dist)
    count = inside.sum(axis=1)
    keep = count >= MIN_NEIGHBOURS
    if not keep.any():
        return 0.0
    inside, count = inside[keep], count[keep]
    nb = pts[np.where(inside, idx[keep], 0)] * inside[..., None]
    centred = (nb - (nb.sum(axis=1) / count[:, None])[:, None]) * inside[..., None]
    cov = np.einsum("nki,nkj->nij", centred, centred) / count[:, None, None]
    smallest = np.linalg.eigvalsh(cov)[:, 0]
    return float(np.median(np.sqrt(np.maximum(smallest, 0.0))))
