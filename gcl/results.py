"""Result records: the JSON file every CLI run, example and benchmark writes.

Schema (``format: gcl-result/1``)::

    {"format", "method", "dataset", "config", "seeds",
     "metrics": {name: {"mean", "std", "values"}},
     "timing": {"train_s", "epoch_s_median", "peak_mem_mb"},
     "device", "versions", "command", "created", "runs": [...per-run details...]}

Docs tables and benchmark pages are generated from these files, never typed by hand.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from ._utils import atomic_target
from .merge import compare_records, merge_records  # noqa: F401  (re-exported)
from .recordcheck import check_record, read_json_file

__all__ = ["RESULT_FORMAT", "device_description", "source_revision", "output_paths", "versions",
           "write_json", "read_result", "make_record", "merge_records", "compare_records",
           "check_record", "newest_records"]

RESULT_FORMAT = "gcl-result/1"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device | str) -> str:
    """A human-readable description of the device a figure was measured on.

    Args:
        device: a torch device or its name.

    Returns:
        str: ``"cpu: <model> (<cores> cores, <threads> torch threads)"`` or
        ``"cuda: <GPU name>"``.

    Example:
        >>> device_description("cpu").startswith("cpu")
        True
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda: {torch.cuda.get_device_name(index)}"
    return f"cpu: {_cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def output_paths(root: str | os.PathLike) -> tuple[str, ...]:
    """The folders of the checkout at ``root`` that runs write into (result records, benchmark
    files, generated pages), read from its ``pyproject.toml``::

        [tool.gcl]
        output-paths = ["results", "docs"]

    Changes there do not make the checkout's code differ from its commit. Without that table (or
    without a TOML reader, on Python 3.10 without ``tomli``) no folder is excluded. Entries that
    are absolute or climb out of the checkout (``..``) are ignored.

    Args:
        root: the checkout's top folder.

    Returns:
        tuple[str, ...]: relative folder paths.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "pyproject.toml").write_text(
        ...     '[tool.gcl]\\noutput-paths = ["results", "/etc", "../up"]\\n')
        >>> output_paths(root)
        ('results',)
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            return ()
    try:
        with open(Path(root) / "pyproject.toml", "rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("gcl", {})
    except (OSError, ValueError):
        return ()
    paths = table.get("output-paths", []) if isinstance(table, dict) else []
    if not isinstance(paths, list):
        return ()
    return tuple(p for p in paths if isinstance(p, str) and p and not Path(p).is_absolute()
                 and ".." not in Path(p).parts)


def source_revision() -> str | None:
    """The git commit of the checkout gcl runs from, ``"<short sha>"``, or ``"<short sha>+dirty"``
    when tracked files outside its :func:`output_paths` differ from it; ``None`` outside a git
    checkout (an installed package) or without git. Result records keep it as
    ``versions["gcl_commit"]``, looked up once per process (at its first record). Records and
    pages written by earlier runs (``make bench`` writes one file per script, ``gcl reproduce``
    a record and the page) leave the code unchanged, so they do not count as changes.

    Returns:
        str | None: the short commit id, with ``+dirty`` when the checkout's code has changes.

    Example:
        >>> rev = source_revision()
        >>> rev is None or len(rev.split("+")[0]) >= 7
        True
    """
    return checkout_revision(Path(__file__).resolve().parents[1])


def checkout_revision(root: str | os.PathLike) -> str | None:
    """:func:`source_revision` of the git checkout whose top folder is ``root`` (``None`` when
    ``root`` is not the top of a git checkout, or without git).

    Args:
        root: the checkout's top folder.

    Returns:
        str | None: the short commit id, with ``+dirty`` when tracked files outside
        :func:`output_paths` differ from it.
    """
    import subprocess

    root = Path(root).resolve()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None  # gcl installed inside some other repository's tree
        sha = git("rev-parse", "--short=10", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                    *(f":(top,exclude){p}" for p in output_paths(root)))
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


_revision = functools.cache(source_revision)  # once per process


def versions() -> dict[str, str]:
    """Versions of Python, torch, torch_geometric, gcl and the optional packages in use, and the
    git commit of gcl's source when it runs from a checkout (``gcl_commit``, see
    :func:`source_revision`).

    Returns:
        dict[str, str]: package name -> version (the optional ones only when imported).

    Example:
        >>> "torch" in versions()
        True
    """
    import torch_geometric

    from . import __version__

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gcl": __version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
    }
    revision = _revision()
    if revision:
        out["gcl_commit"] = revision
    if torch.version.cuda:
        out["cuda"] = torch.version.cuda
    for name in ("numpy", "scipy", "sklearn", "ogb", "igraph", "torch_scatter"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            out[name] = str(module.__version__)
    return out


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically (temporary file, then rename).

    Args:
        obj: a JSON-serialisable object (tensors and paths are converted).
        path: the file to write (folders are created).

    Returns:
        Path: the written file.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_json({"a": 1}, pathlib.Path(tempfile.mkdtemp()) / "r.json")
        >>> p.read_text().strip().startswith("{")
        True
    """
    path = Path(path)
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    data = text.encode("utf-8")
    with atomic_target(path, size_hint=len(data)) as tmp:
        tmp.write_bytes(data)
    return path


def _json_default(obj: Any):
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def read_result(path: str | os.PathLike) -> dict:
    """Read a result record, checking its format.

    Args:
        path: a JSON file written by ``gcl train`` or ``gcl reproduce``.

    Returns:
        dict: the record.

    Raises:
        FileNotFoundError: when there is no such file.
        ValueError: when the file is not a complete gcl result record (a folder, not JSON,
            or a field missing or of the wrong type: see :func:`gcl.recordcheck.check_record`).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> _ = write_json(make_record(method="grace", dataset="cora", config={}, seeds=[0],
        ...                            metrics={}, timing={}, device="cpu", command="gcl"), p)
        >>> read_result(p)["method"]
        'grace'
    """
    path = Path(path)
    return check_record(read_json_file(path, "gcl result record"), str(path))


def _command_line() -> str:
    """The running command as a user would type it (``gcl ...`` for ``python -m gcl ...``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "gcl":
        argv[0] = "gcl"
    elif argv and Path(argv[0]).name == "gcl":
        argv[0] = "gcl"
    return shlex.join(argv)


def make_record(*, method: str, dataset: str, config: dict, seeds: list[int],
                metrics: dict, timing: dict, device: torch.device | str,
                runs: list[dict] | None = None, command: str | None = None,
                extra: dict | None = None) -> dict:
    """Assemble a result record (see the module docstring for the schema).

    Args:
        method: the method name.
        dataset: the dataset name.
        config: the full run configuration.
        seeds: the seed of every run.
        metrics: metric name -> ``{"mean", "std", "values"}`` over runs.
        timing: ``{"train_s", "epoch_s_median", "peak_mem_mb"}``.
        device: the device the runs used (described with :func:`device_description`).
        runs: per-run details (seed, scores, loss history, ...) (default: none).
        command: the command line (default: ``sys.argv`` joined).
        extra: more top-level fields (default: none).

    Returns:
        dict: the record, with ``format``, ``versions`` and ``created`` filled in.

    Example:
        >>> r = make_record(method="grace", dataset="cora", config={}, seeds=[0], metrics={},
        ...                 timing={}, device="cpu", command="gcl train")
        >>> r["format"], r["device"].startswith("cpu")
        ('gcl-result/1', True)
    """
    record = {
        "format": RESULT_FORMAT,
        "method": method,
        "dataset": dataset,
        "config": config,
        "seeds": list(seeds),
        "metrics": metrics,
        "timing": timing,
        "device": device_description(device),
        "versions": versions(),
        "command": command if command is not None else _command_line(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "runs": runs or [],
    }
    if extra:
        record.update(extra)
    return record


def newest_records(results_dir: str | Path, fmt: str, key, valid=None) -> list[dict]:
    """The JSON records of format ``fmt`` under ``results_dir`` (recursively), the newest
    (by ``created``) per ``key(record)``; other files are skipped.

    Args:
        results_dir: the records folder.
        fmt: the records' ``format`` tag (e.g. ``gcl-result/1``).
        key: ``key(record) -> hashable``: records of one key replace each other.
        valid: ``valid(record, path) -> bool``: a record it refuses is skipped (default: all
            kept).

    Returns:
        list[dict]: the records, each with its path relative to ``results_dir`` under
        ``_file``.

    Example:
        >>> import tempfile
        >>> newest_records(tempfile.mkdtemp(), RESULT_FORMAT, lambda r: r["dataset"])
        []
    """
    results_dir = Path(results_dir)
    latest: dict = {}
    for path in sorted(results_dir.rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        if not isinstance(record, dict) or record.get("format") != fmt:
            continue
        if valid is not None and not valid(record, path):
            continue
        record["_file"] = str(path.relative_to(results_dir))
        k = key(record)
        if k not in latest or record.get("created", "") >= latest[k].get("created", ""):
            latest[k] = record
    return list(latest.values())
