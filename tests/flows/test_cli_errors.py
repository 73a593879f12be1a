"""Issue 13: every expected failure of every command is one `error:` line with an honest exit code
(0 all ok or skipped, 1 an item failed or was locked, 2 usage/config/preflight), checked before
any work starts; tracebacks go to the run log (and to the console with --debug)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
import typer

from flows.cli import _register, main
from flows.cli.common import Session, app

SYNTH = ["--set", "truth_dir=/nonexistent"] + [
    a for s in ("indoor", "reconstruct", "segment") for a in ("--set", f"{s}.backend=synthetic-gt")
]


@pytest.fixture
def ytocc(capsys, monkeypatch, tmp_path):
    """Run `ytocc ARGS` in this process through its real entry point: (exit code, stdout, stderr)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("YTOCC_DEBUG", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["ytocc", *args])
        monkeypatch.setattr(Session, "debug", False)
        monkeypatch.setattr(Session, "log_dir", None)
        with pytest.raises(SystemExit) as e:
            main()
        out = capsys.readouterr()
        return int(e.value.code or 0), out.out, out.err

    return run


def one_error_line(err: str) -> str:
    """The stderr of a refused command: exactly one `error:` line and no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def fake_clip(data: Path, clip: str = "tour-00000000-000") -> str:
    folder = data / "clips" / clip
    folder.mkdir(parents=True)
    (folder / "clip.json").write_text(json.dumps({"video_id": clip.rsplit("-", 1)[0]}))
    return clip


# case 4: missing weights ----------------------------------------------------------------------
def test_build_with_missing_weights_lists_every_model_and_starts_nothing(
    ytocc, tmp_path, monkeypatch
) -> None:
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    data = tmp_path / "data"
    code, out, err = ytocc("build", "http://127.0.0.1:9/tour.mp4", "--data", str(data),
                           "--set", f"indoor.places365.weights={tmp_path / 'places'}")  # fmt: skip
    assert code == 2
    assert err.startswith("error: 3 thing(s) missing; nothing was started")
    for name in ("Places365", "DUSt3R", "Mask2Former"):
        assert name in err
    assert "Traceback" not in err and "at None" not in out + err
    assert not (data / "videos").exists() and not (data / "clips").exists()


def test_reconstruct_with_missing_weights_is_one_message_not_tracebacks(
    ytocc, tmp_path, monkeypatch
) -> None:
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    data = tmp_path / "data"
    clip = fake_clip(data)
    code, _, err = ytocc("reconstruct", clip, "--data", str(data))
    assert code == 2 and "DUSt3R weights" in err and "Traceback" not in err
    assert not (data / "clips" / clip / "stages").exists()


# case 6: bad arguments, checked before work ---------------------------------------------------
def test_build_refuses_a_dataset_name_that_is_a_path_at_once(ytocc, tmp_path) -> None:
    data = tmp_path / "data"
    code, _, err = ytocc("build", "http://127.0.0.1:9/t.mp4", "--data", str(data),
                         "--dataset", "../../x", *SYNTH)  # fmt: skip
    assert code == 2 and "'../../x'" in one_error_line(err)
    assert not (data / "videos").exists()


@pytest.mark.parametrize("clip", ["../x", "a/b", "nope-000"])
@pytest.mark.parametrize("command", [["reconstruct"], ["stage", "clean"], ["rerun", "--clip"]])
def test_a_bad_clip_argument_is_one_line(ytocc, tmp_path, command, clip) -> None:
    (tmp_path / "data").mkdir()  # a data folder without that clip
    code, _, err = ytocc(*command, clip, "--data", str(tmp_path / "data"), *SYNTH)
    assert code == 2 and clip in one_error_line(err)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["eval", "{t}/no-pred", "{t}/no-gt", "--out", "{t}/m.json"], "no-pred"),
        (["align", "{t}/no.npz", "{t}/out.npz", "--report", "{t}/r.json"], "no.npz"),
        (["clean", "{t}/no.npz", "{t}/out.npz"], "no.npz"),
        (["voxelize", "{t}/no.npz", "{t}/out.npz"], "no.npz"),
        (["reconstruct-images", "{t}/no-frames", "{t}/r.npz"], "no-frames"),
        (["dataset", "../foo", "--data", "{t}/data"], "../foo"),
    ],
)
def test_a_bad_path_or_name_argument_exits_2_with_one_line(ytocc, tmp_path, args, names) -> None:
    """README exit-code table: a bad argument or path is a usage error (2), on every command."""
    code, _, err = ytocc(*[a.format(t=tmp_path) for a in args])
    assert code == 2 and names in one_error_line(err)


def test_unknown_stage_and_nothing_to_build_are_usage_errors(ytocc, tmp_path) -> None:
    data = str(tmp_path / "data")
    code, _, err = ytocc("stage", "nonsense", fake_clip(tmp_path / "data"), "--data", data)
    assert code == 2 and "unknown clip stage 'nonsense'" in one_error_line(err)
    code, _, err = ytocc("build", "--data", str(tmp_path / "empty"), *SYNTH)
    assert code == 2 and "nothing to build" in one_error_line(err)


@pytest.mark.parametrize(
    ("args", "says", "help_of"),
    [
        (["build", "--no-such-option"], "No such option: --no-such-option", "ytocc build"),
        (["align"], "Missing argument", "ytocc align"),
        (["no-such-command"], "No such command 'no-such-command'", "ytocc"),
        (["train", "pretrain", "--epochs", "many"], "Invalid value for '--epochs'",
         "ytocc train pretrain"),
        (["build", "--data"], "'--data' requires an argument", None),
    ],
)  # fmt: skip
def test_command_line_usage_errors_are_one_line_naming_the_help(ytocc, args, says, help_of):
    code, out, err = ytocc(*args)
    line = one_error_line(err)
    assert code == 2 and says in line and out == ""
    if help_of:  # Click knew which command it was parsing: the line names that command's help
        assert line.endswith(f"(see '{help_of} --help')")


def test_a_command_group_alone_shows_its_help_with_exit_2(ytocc) -> None:
    code, out, err = ytocc("train")
    assert code == 2 and "pretrain" in out + err and "Traceback" not in out + err


COMMAND_ARGS = {
    "harvest": ["http://127.0.0.1:9/x.mp4"],
    "build": [],
    "rerun": [],
    "stage": ["clean", "c-000"],
    "reconstruct": ["c-000"],
    "dataset": ["d"],
    "doctor": [],
    "serve": [],
    "config show": [],
    "train pretrain": ["--dataset", "x"],
    "train finetune": ["--dataset", "x"],
    "train evaluate": ["--dataset", "x", "--checkpoint", "y"],
    "train label-efficiency": ["--pretrain-dataset", "x", "--finetune-dataset", "y"],
    "scene": ["i.jpg"],
    "segment-image": ["i.jpg", "--out", "o"],
    "align": ["a.npz", "b.npz", "--report", "r.json"],
    "clean": ["a.npz", "b.npz"],
    "status": [],
    "reconstruct-images": ["frames", "out.npz"],
}


def commands_with(param: str) -> list[str]:
    """Every `ytocc` command (subcommands as 'group name') taking the option `param`."""
    import typer.main

    _register()
    group = typer.main.get_command(app)
    found = []
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        for full, c in (
            {f"{name} {n}": s for n, s in subs.items()} if subs else {name: cmd}
        ).items():
            if any(p.name == param for p in c.params):
                found.append(full)
    return sorted(found)


def test_every_command_with_a_config_is_covered_below() -> None:
    assert set(commands_with("config")) == set(COMMAND_ARGS)


@pytest.mark.parametrize("command", sorted(COMMAND_ARGS))
def test_malformed_yaml_is_one_line_naming_file_and_line_on_every_command(
    ytocc, tmp_path, monkeypatch, command
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("reconstruct:\n  niter: [1, 2\nclean: {}\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = ytocc(*command.split(), *COMMAND_ARGS[command], "--config", str(bad))
    line = one_error_line(err)
    assert code == 2 and str(bad) in line and "not valid YAML at line" in line, line


@pytest.mark.parametrize("command", ["harvest", "build", "rerun", "dataset", "status", "doctor"])
def test_an_empty_data_root_is_an_error_not_the_current_folder(
    ytocc, tmp_path, monkeypatch, command
) -> None:
    monkeypatch.setenv("YTOCC_DATA", "")
    monkeypatch.chdir(tmp_path)
    code, _, err = ytocc(command, *COMMAND_ARGS.get(command, []))
    assert code == 2 and "$YTOCC_DATA is empty" in one_error_line(err)
    assert not (tmp_path / "data").exists() and not (tmp_path / "videos").exists()


# case 6: tracebacks go to the run log ---------------------------------------------------------
def test_an_unexpected_error_is_one_line_and_its_traceback_is_in_the_run_log(
    ytocc, tmp_path, monkeypatch
) -> None:
    from flows.cli import common

    def boom(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(common, "check_writable", boom)
    code, _, err = ytocc("build", "--data", str(tmp_path / "data"))
    line = one_error_line(err)
    assert code == 1 and line.startswith("error: unexpected RuntimeError: boom (traceback: ")
    log = Path(line.rsplit("(traceback: ", 1)[1].rstrip(")"))
    assert log.is_file() and "Traceback" in log.read_text() and "boom" in log.read_text()

    code, _, err = ytocc("--debug", "build", "--data", str(tmp_path / "data"))
    assert code == 1 and "Traceback" in err and 'raise RuntimeError("boom")' in err


def test_a_malicious_train_state_is_refused_naming_the_file(ytocc, tmp_path) -> None:
    import pickle

    from models.occupancy.checkpoint import STATE_FILE, CheckpointError, load_train_state

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / STATE_FILE).write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match=str(tmp_path / STATE_FILE)):
        load_train_state(tmp_path)


# case 5: exit codes --------------------------------------------------------------------------
def test_harvest_exits_1_when_every_source_was_refused(ytocc, tmp_path, prefect_harness) -> None:
    code, _, err = ytocc("harvest", "ftp://example.com/a.mp4", "--data", str(tmp_path / "d"))
    assert code == 1 and "error: 'ftp://example.com/a.mp4': scheme 'ftp' not allowed" in err


def test_a_build_that_finds_its_clip_locked_exits_1_and_names_the_holder(
    ytocc, tmp_path, prefect_harness
) -> None:
    data = tmp_path / "data"
    clip = fake_clip(data)
    lock = data / "locks" / f"{clip}.lock"
    lock.parent.mkdir(parents=True)
    started = time.time()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}))  # fmt: skip
    code, out, _ = ytocc("build", "--data", str(data), "--dataset", "", *SYNTH)
    holder = f"held by another build (host {socket.gethostname()}, pid {os.getpid()}, since "
    assert code == 1
    assert f"{clip}: locked: {holder}" in out and "0 of 1 items ok" in out
    report = Path(out.split("report:", 1)[1].strip().splitlines()[0]).read_text()
    assert f"{clip}: locked: {holder}" in report
    assert lock.exists()  # still the other build's


def test_typer_exit_codes_pass_through(ytocc) -> None:
    code, out, _ = ytocc("--help")
    assert code == 0 and "doctor" in out and "stage" in out
    assert isinstance(typer.Exit(2), Exception)


@pytest.mark.parametrize("command", ["status", "dataset x", "build", "rerun", "stage clean c-000"])
def test_an_empty_data_option_is_refused_and_the_current_folder_untouched(
    ytocc, tmp_path, monkeypatch, command
) -> None:
    """`--data ""` once meant the current folder (a Path("") is "."): status said "nothing
    harvested" there and dataset left a locks/ folder in it."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    code, _, err = ytocc(*command.split(), "--data", "")
    assert code == 2 and "--data is empty" in one_error_line(err)
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("command", ["status", "dataset x", "rerun", "stage clean c-000"])
def test_a_missing_data_folder_is_not_an_empty_one(ytocc, tmp_path, command) -> None:
    """Commands that read what was harvested refuse a data folder that does not exist (a typo
    once printed "nothing harvested" with exit 0) and do not create it."""
    missing = tmp_path / "no-such-data"
    code, _, err = ytocc(*command.split(), "--data", str(missing))
    assert code == 2 and f"no data folder at {missing}" in one_error_line(err)
    assert not missing.exists()


@pytest.mark.parametrize("fraction", ["1.5", "-1", "0"])
def test_a_label_fraction_outside_0_1_is_one_line_and_exit_2(ytocc, tmp_path, fraction) -> None:
    """1.5 silently fine-tuned on every label; -1 and 0 failed inside the running flow."""
    code, out, err = ytocc("train", "finetune", "--dataset", str(tmp_path), "--data",
                           str(tmp_path), "--label-fraction", fraction,
                           "--out", str(tmp_path / "run"))  # fmt: skip
    line = one_error_line(err)
    assert (
        code == 2 and line == f"error: --label-fraction must lie in (0, 1], got {float(fraction)}"
    )
    assert not (tmp_path / "run").exists()
