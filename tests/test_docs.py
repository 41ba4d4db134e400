"""The documentation stays true: the extending guide runs, the CLI page and the GRACE page match
the code, the MEOW page's memory table matches its benchmark record, and the site builds with no
warnings when mkdocs is installed."""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gcl.cli import build_parser
from gcl.methods import get_method, load_config

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


@pytest.fixture
def one_thread():
    """One native thread: the guide's graph is tiny, and thread pools on a shared, busy CPU
    make it many times slower, not faster."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def test_extending_guide_runs(monkeypatch, tmp_path, one_thread):
    blocks = python_blocks(DOCS / "extending.md")
    assert len(blocks) >= 5, "the extending guide lost its code"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "extending_guide"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/extending.md block {i + 1}", "exec"), namespace)
    assert namespace["history"].losses[-1] < namespace["history"].losses[0]


def _options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, p in sub.choices.items():
        out[name] = [s for a in p._actions for s in a.option_strings
                     if s.startswith("--") and s not in ("--help",) and not s.startswith("--no-")]
    return out


def test_cli_page_lists_every_command_and_option():
    text = (DOCS / "cli.md").read_text()
    for command, options in _options(build_parser()).items():
        assert f"gcl {command}" in text, f"docs/cli.md does not describe `gcl {command}`"
        for option in options:
            assert f"`{option}" in text, f"docs/cli.md misses {option} of `gcl {command}`"


def test_every_option_help_shows_its_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        text = " ".join(p.format_help().split())
        for action in p._actions:
            if not action.option_strings or action.default is argparse.SUPPRESS or action.required:
                continue
            help_text = " ".join((action.help or "").split())
            assert help_text, f"gcl {name} {action.option_strings[0]} has no help"
            start = text.index(help_text[:30])
            assert "(default:" in text[start:start + len(help_text) + 80], (
                f"gcl {name} {action.option_strings[0]}: help does not show the default")


def test_grace_page_configuration_table_matches_the_yaml():
    text = (DOCS / "methods" / "grace.md").read_text()
    header = ("| dataset | lr | hidden | proj_hidden | activation | drop_edge | drop_feature "
              "| tau | epochs |")
    assert header in text
    rows = text.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    keys = header.strip("|").replace(" ", "").split("|")[1:]
    seen = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        dataset, values = cells[0], cells[1:]
        config = load_config("grace", dataset)
        for key, shown in zip(keys, values):
            assert shown == str(config[key]), f"grace.md: {dataset}.{key} is {shown}, YAML {config[key]}"
        seen.add(dataset)
    assert seen == set(get_method("grace").datasets)


def test_meow_page_memory_table_matches_the_benchmark_record():
    """docs/meow.md quotes benchmarks/results/meow_memory_acm.json; a new measurement must
    update the page too."""
    import json

    record = json.loads((REPO / "benchmarks" / "results" / "meow_memory_acm.json").read_text())
    text = (DOCS / "meow.md").read_text().split("## Memory benchmark", 1)[1].split("\n## ", 1)[0]
    header = "| adjacencies | checkpointing | step peak MiB | adjacency MiB | rest MiB |"
    shown = text.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    expected = [f"| {r[0]} | {r[1]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} |"
                for r in record["rows"]]
    assert shown == expected
    for note in record["notes"][:2]:  # the two sparse / dense peak ratios
        assert note.rsplit(": ", 1)[1] in text, note
    for loss in sorted({r[6] for r in record["rows"]}):
        assert f"{loss:.6f}" in text


def test_every_page_is_in_the_nav():
    import yaml

    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]

    def files(entries):
        for entry in entries:
            for value in entry.values():
                yield from (files(value) if isinstance(value, list) else [value])

    listed = set(files(nav))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == listed, f"pages not in the nav: {pages - listed}; missing: {listed - pages}"


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (tmp_path / "site" / "extending" / "index.html").is_file()
