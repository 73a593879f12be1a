"""Scale provenance of a clip's alignment: whether its metric scale was measured or assumed.

``align.json`` and the align marker's stats carry ``scale_source`` (``measured``: the floor to
ceiling height was seen, ``ceiling`` or ``ceiling-glimpse``; ``assumed``: wall tops or a camera
height stood for the ceiling, ``wall-top`` or ``camera-height``) and ``scale_method``. Older
records only hold ``method`` (``floor+<scale_method>``); this module reads both.
"""

from __future__ import annotations

from typing import Any

MEASURED: tuple[str, ...] = ("ceiling", "ceiling-glimpse")
"""Scale methods that measure the floor-to-ceiling height."""
ASSUMED: tuple[str, ...] = ("wall-top", "camera-height")
"""Scale methods that assume a height (the visible wall tops, a camera height)."""
SOURCES: tuple[str, ...] = ("measured", "assumed", "unknown")


def scale_provenance(record: dict[str, Any] | None) -> tuple[str, str]:
    """(scale_source, scale_method) of an align report or align marker's stats; reports written
    before provenance was recorded are read from their ``method`` (``floor+wall-top`` →
    assumed, wall-top); ``("unknown", "")`` when neither says."""
    record = record or {}
    if record.get("scale_source") in ("measured", "assumed"):
        return record["scale_source"], str(record.get("scale_method", ""))
    method = str(record.get("method", "")).removeprefix("floor+")
    if method in MEASURED:
        return "measured", method
    if method in ASSUMED:
        return "assumed", method
    return "unknown", ""
