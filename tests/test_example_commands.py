"""Every example command the documentation shows (README, docs pages, the examples' own
docstrings) parses under that example's argparse: a renamed or misspelt option in a shown command
fails here instead of in a reader's terminal."""

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
