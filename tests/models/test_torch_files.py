"""`models.torch_files.load_weights_only`: torch pickles read weights-only, every failure one
CheckpointError line naming the file (the loaders' own cases are in test_untrusted_checkpoints)."""

from __future__ import annotations

import argparse
from fractions import Fraction

import pytest
import torch

from models.torch_files import CheckpointError, load_weights_only


def test_tensors_and_admitted_classes_load_onto_the_cpu(tmp_path) -> None:
    path = tmp_path / "a.pt"
    torch.save({"w": torch.arange(3.0), "args": argparse.Namespace(model="x")}, path)
    back = load_weights_only(path, admit=[argparse.Namespace])
    assert torch.equal(back["w"], torch.arange(3.0)) and back["args"].model == "x"
    with pytest.raises(CheckpointError, match=r"it names argparse\.Namespace"):
        load_weights_only(path)  # the same class, not admitted


def test_each_failure_is_one_line_naming_the_file(tmp_path) -> None:
    foreign = tmp_path / "f.pt"
    torch.save({"lr": Fraction(1, 3)}, foreign)
    text = tmp_path / "t.pt"
    text.write_text("not a checkpoint\n")
    cases = {
        foreign: f"{foreign}: refused by weights-only loading (it names fractions.Fraction, which "
        "could run code); if you trust the file, re-save its tensors",
        text: f"{text}: unreadable or truncated checkpoint (",
        tmp_path / "absent.pt": f"{tmp_path / 'absent.pt'}: unreadable or truncated checkpoint (",
    }
    for path, start in cases.items():
        with pytest.raises(CheckpointError) as info:
            load_weights_only(path)
        assert str(info.value).startswith(start) and "\n" not in str(info.value), str(info.value)


def test_legacy_files_load_and_the_cause_is_torchs_own_short_line(tmp_path) -> None:
    """The published Places365 files use torch's legacy (pre-1.6) format, which memory-mapping
    cannot read: it is only asked for. Each cause is torch's own line, without the paragraph
    of advice torch appends, or the error's type when it has no message."""
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(load_weights_only(legacy)["w"], torch.ones(2))
    raw = legacy.read_bytes()
    cases = {
        b"\x80\x02garbage": "Unsupported operand 103",  # 'g' is no pickle opcode
        raw[:2]: "EOFError",  # a legacy file cut after its 2-byte header: no message at all
        b"not a checkpoint\n": None,  # a zip reader's error, first sentence only
    }
    for data, cause in cases.items():
        bad = tmp_path / "bad.pt"
        bad.write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            load_weights_only(bad)
        msg = str(info.value)
        assert msg.startswith(f"{bad}: unreadable or truncated checkpoint ("), msg
        inner = msg.removeprefix(f"{bad}: unreadable or truncated checkpoint (")[:-1]
        if cause is not None:
            assert inner == cause, msg
        assert "weights_only" not in inner and ". " not in inner and inner != "None", msg
