"""Symphonies (Jiang et al., CVPR 2024), the paper's occupancy network: an adapter that says how
to install it.

Symphonies is not a PyPI package: it is the ``ssc_pl`` package of its repository
(hustvl/Symphonies), built on MMDetection 3 (MaskDINO image encoder) and mmcv's compiled
multi-scale deformable-attention ops. On this stack (torch 2.14, CPU) mmcv has no wheel on
PyPI and its source build fails, and MMDetection 3.3 pins ``mmcv<2.2``, so the adapter cannot be
built here. Building it checks the imports and fails with :data:`INSTALL`.
"""

from __future__ import annotations

import importlib.util

from torch import nn

INSTALL = (
    "pip install -U openmim && mim install mmengine 'mmcv>=2.0.0,<2.2.0' 'mmdet>=3.0,<3.4' "
    "(a CUDA build of torch that mmcv supports), then git clone "
    "https://github.com/hustvl/Symphonies and put it on PYTHONPATH"
)
REQUIRED = ("ssc_pl", "mmdet", "mmcv", "mmengine")


class SymphoniesUnavailable(ImportError):
    """Symphonies' own code or its OpenMMLab dependencies are not importable."""


def missing_modules() -> list[str]:
    """The modules Symphonies needs that this environment cannot import."""
    return [m for m in REQUIRED if importlib.util.find_spec(m) is None]


class Symphonies(nn.Module):
    """Placeholder in the registry; construction fails with the install line (see module doc)."""

    def __init__(self, **kwargs) -> None:
        super().__init__()
        missing = missing_modules()
        if missing:
            raise SymphoniesUnavailable(
                f"network 'symphonies' needs {', '.join(missing)} (not installable from PyPI on "
                f"this stack): {INSTALL}"
            )
        raise SymphoniesUnavailable(
            "network 'symphonies': its dependencies import, but this adapter does not yet map "
            "ytocc samples onto ssc_pl's inputs (depth, projected pixels, MaskDINO checkpoint); "
            "train it with the Symphonies repository's own scripts"
        )
