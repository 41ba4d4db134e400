"""Every command the documentation shows is one the code accepts: each ``examples/NAME.py ...``
(README, docs pages, the examples' own docstrings) parses under that example's argparse, and each
``--option`` of a ``gcl SUB ...`` command (README and docs) is an option of SUB. A renamed or
misspelt option in a shown command fails here instead of in a reader's terminal."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"examples/(\w+)\.py((?:[ \t]+[^\s`#|]+)*)")


def shown_commands() -> list[tuple[str, str, list[str]]]:
    """(where, example, arguments) of each ``examples/NAME.py ...`` command in the docs."""
    sources = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")),
               *sorted((REPO / "examples").glob("*.py"))]
    found = []
    for path in sources:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for match in COMMAND.finditer(line.split(" # ")[0]):
                where = f"{path.relative_to(REPO)}:{lineno}"
                found.append((where, match.group(1), shlex.split(match.group(2))))
    return found


COMMANDS = shown_commands()


def test_the_docs_show_example_commands():
    examples = {name for _, name, _ in COMMANDS}
    assert {"ogbn_arxiv", "ogbn_products", "pot", "csgcl", "meow"} <= examples, examples


def _parse(name: str, args: list[str], monkeypatch):
    spec = importlib.util.spec_from_file_location(f"_example_{name}",
                                                  REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not run as __main__: defines parse_args and main only
    monkeypatch.setattr(sys, "argv", [f"examples/{name}.py", *args])
    return module.parse_args()


@pytest.mark.parametrize("where,name,args", COMMANDS, ids=[w for w, _, _ in COMMANDS])
def test_each_shown_example_command_parses(where, name, args, monkeypatch, capsys):
    try:
        _parse(name, args, monkeypatch)
    except SystemExit as exc:  # argparse's error exit
        pytest.fail(f"{where}: `examples/{name}.py {shlex.join(args)}` does not parse: "
                    f"{capsys.readouterr().err.strip()} (exit {exc.code})")


def test_a_misspelt_option_is_caught(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _parse("ogbn_arxiv", ["--method", "bgrl"], monkeypatch)
    assert "unrecognized arguments: --method" in capsys.readouterr().err


GCL = re.compile(r"(?:`|\$ )gcl ([a-z]+)((?:[ \t]+[^\s`#|]+)*)")


def shown_gcl_commands() -> list[tuple[str, str, list[str]]]:
    """(where, subcommand, options) of each ``gcl SUB ...`` command in the README and docs:
    inline code and code-block lines; a fragment may leave out required options."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        fenced = False
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            text = line.strip().split(" # ")[0]
            for match in GCL.finditer(("`" if fenced else "") + text):
                try:
                    args = shlex.split(match.group(2))
                except ValueError:  # an unbalanced quote in prose: not a command
                    continue
                found.append((f"{path.relative_to(REPO)}:{lineno}", match.group(1), args))
    return found


def unknown_options(commands) -> list[str]:
    """The subcommands and ``--options`` of ``commands`` that the ``gcl`` parser lacks."""
    import argparse

    from gcl.cli_args import build_parser

    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction)).choices
    bad = []
    for where, command, args in commands:
        if command not in subparsers:
            bad.append(f"{where}: gcl {command}: no such subcommand")
            continue
        known = subparsers[command]._option_string_actions
        bad += [f"{where}: gcl {command} {opt.split('=')[0]}: no such option"
                for opt in args if opt.startswith("--") and opt.split("=")[0] not in known]
    return bad


def test_every_option_of_a_shown_gcl_command_exists():
    """Each ``--option`` in a ``gcl SUB ...`` command the docs show is an option of SUB (the
    whole command need not be complete: prose shows fragments such as ``gcl merge --fill``)."""
    commands = shown_gcl_commands()
    assert len(commands) > 50 and {"train", "reproduce", "compare"} <= {c for _, c, _ in commands}
    assert sum(len(args) for _, _, args in commands) > 100  # options, not just bare names
    bad = unknown_options(commands)
    assert not bad, "\n".join(bad)


def test_a_misspelt_gcl_option_or_subcommand_is_caught():
    bad = unknown_options([("x.md:1", "train", ["--method", "grace", "--epoch", "3"]),
                           ("x.md:2", "reproduse", []), ("x.md:3", "merge", ["--fill=a=b"])])
    assert bad == ["x.md:1: gcl train --epoch: no such option",
                   "x.md:2: gcl reproduse: no such subcommand"]
