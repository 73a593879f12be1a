"""A tiny occupancy network configuration for CPU tests."""

from __future__ import annotations

TINY_NET = {"enc_widths": (8, 16), "lift_dim": 8, "unet_widths": (8, 16)}
"""Constructor arguments of a tiny MonoSceneLite (with ``feature_dim`` added by the caller)."""
