"""Where items ended, as printed in summaries and reports, and the exit code they give."""

from flows.outcomes import describe, exit_code, outcome


def test_an_item_that_ended_before_any_stage_is_never_failed_at_none() -> None:
    # issue 13, cases 4 and 6: summaries said "failed at None: WeightsNotFound…"
    line = describe(outcome("src-1", None, "failed", "scheme 'ftp' not allowed"))
    assert line == "src-1: failed: scheme 'ftp' not allowed"
    assert (
        describe(outcome("c-000", "align", "failed", "no floor"))
        == "c-000: failed at align: no floor"
    )


def test_only_ok_and_skipped_items_give_exit_code_0() -> None:
    ok, skipped = outcome("a", "voxelize", "ok", ""), outcome("b", "indoor", "skipped", "outdoor")
    assert exit_code([]) == 0 and exit_code([ok, skipped]) == 0
    assert exit_code([ok, outcome("c", "align", "failed", "no floor")]) == 1
    assert exit_code([ok, outcome("d", None, "locked", "held by another build (host h)")]) == 1
