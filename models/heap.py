"""Process heap tuning for the NumPy-heavy stages (rendering, cleaning, voxelizing).

Each of those allocates many arrays of 1–50 MB per frame or clip. By default glibc serves every
one with a fresh mmap whose pages fault in on first touch and are unmapped on free, which cost a
third of a rendered frame's time. Raising the mmap and trim thresholds lets freed heap be
reused instead.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
MMAP_THRESHOLD = 1 << 28
"""Arrays up to 256 MB come from the reusable heap."""
TRIM_THRESHOLD = 1 << 29
"""Up to 512 MB of freed heap is kept for reuse rather than returned to the system."""


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    except (OSError, AttributeError):
        return False
