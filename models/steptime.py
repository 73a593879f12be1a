"""Wall and CPU seconds of the named steps of a computation (for markers and benchmarks).

CPU seconds are the process's (``time.process_time``: every thread together), so on shared cores
they say what a step costs where the wall time says how long it waited as well.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add ``{name}_s`` (wall) and ``{name}_cpu_s`` (process CPU) seconds of the block to
    ``timings``, rounded to 10 ms."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings[f"{name}_s"] = round(time.perf_counter() - wall, 2)
        timings[f"{name}_cpu_s"] = round(time.process_time() - cpu, 2)
