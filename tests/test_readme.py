"""The README's command table matches the CLI: every command it lists exists with the options it
shows, and every command `ytocc --help` lists is in the table (issue 13, case 6: it documented a
`ytocc stage` that did not exist)."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from flows.cli import _register, app

README = Path(__file__).resolve().parents[1] / "README.md"


def table_rows() -> list[str]:
    """The first cells of the README's `| command | what it does |` table."""
    text = README.read_text()
    body = text.split("| command | what it does |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    return [row.split(" | ", 1)[0] for row in body.splitlines()]


def documented() -> dict[str, set[str]]:
    """'name' or 'group name' → the options the README shows for it."""
    out: dict[str, set[str]] = {}
    for cell in table_rows():
        for span in re.findall(r"`(ytocc [^`]*)`", cell):
            words = span.replace("\\|", "|").split()
            opts = {w.split("=")[0] for w in words if w.lstrip("[").startswith("--")}
            opts = {o.strip("[]") for o in opts}
            name = words[1]
            if name in ("train", "config"):
                for sub in words[2].split("|"):
                    out[f"{name} {sub}"] = opts
            else:
                out[name] = opts
    return out


def cli_commands() -> dict[str, typer.core.TyperCommand]:
    _register()
    group = typer.main.get_command(app)
    found: dict[str, typer.core.TyperCommand] = {}
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        found |= {f"{name} {n}": s for n, s in subs.items()} if subs else {name: cmd}
    return found


def help_names() -> set[str]:
    """Top-level command names as `ytocc --help` prints them."""
    _register()
    res = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    section = res.output.split("Commands", 1)[1]
    return set(re.findall(r"^│ (\S+)\s{2,}", section, flags=re.M))


def test_every_documented_command_exists_with_its_options() -> None:
    cli = cli_commands()
    for name, opts in documented().items():
        assert name in cli, f"README documents `ytocc {name}`, which does not exist"
        known = {o for p in cli[name].params for o in (*p.opts, *p.secondary_opts)}
        assert opts <= known, f"`ytocc {name}`: README shows {sorted(opts - known)}"


def test_every_command_of_ytocc_help_is_in_the_table() -> None:
    names = help_names()
    assert {"build", "doctor", "stage"} <= names  # the parse found the commands
    assert names == {n.split()[0] for n in documented()}
    assert set(cli_commands()) == set(documented())
