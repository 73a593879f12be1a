"""timed records a block's wall and CPU seconds under the step's name, even when it raises."""

import pytest

from models.steptime import timed


def test_both_clocks_are_recorded_even_on_error() -> None:
    timings: dict[str, float] = {}
    with timed(timings, "a"):
        sum(range(1000))
    with pytest.raises(ValueError), timed(timings, "b"):
        raise ValueError("boom")
    assert set(timings) == {"a_s", "a_cpu_s", "b_s", "b_cpu_s"}
    assert all(v >= 0 for v in timings.values())
