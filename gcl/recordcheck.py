"""Checks of result records read back from disk (``gcl plot``, ``gcl merge``, ``gcl compare``).

A record is a JSON file anyone can edit, so every field the tools use is checked once, when the
record is read, with one error that names the file and the field: a record that passes
:func:`check_record` cannot make the tools fail later, drop a value or print nonsense.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ._files import excerpt

__all__ = ["check_record", "read_json_file"]

#: the most bytes of a JSON file the tools read
MAX_JSON_BYTES = 1 << 30


def read_json_file(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Parse a JSON file, with one clear error for a folder, a missing, huge, binary, malformed
    or absurdly nested file.

    Args:
        path: the file.
        what: what the file should be, for the messages.

    Returns:
        the parsed value.

    Raises:
        FileNotFoundError: no such file.
        ValueError: anything else that makes it unreadable (naming the file).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "a.json"; _ = p.write_text("[" * 100000)
        >>> read_json_file(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ...a.json is not a valid JSON file: it nests more deeply than...
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}")
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ValueError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB: not a {what}")
        text = path.read_text(encoding="utf-8")
        return json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a {what}: it is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise ValueError(f"{path} is not a valid JSON file: it nests more deeply than Python "
                         "can read") from None
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from None


def _number(value: Any, finite: bool = True) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (not finite or math.isfinite(value)))


def check_record(record: Any, source: str = "the record") -> dict:
    """Check the fields of a result record that the tools use; return it.

    Required: ``format``, ``method`` and ``dataset`` (non-empty strings), ``seeds`` (integers),
    ``metrics`` (``{name: {"mean", "std", "values"}}``, finite numbers), ``timing`` (a mapping
    whose ``train_s`` is a number), ``runs`` (a list: each with an integer ``seed`` among
    ``seeds``, ``metrics`` of finite numbers and, when present, a numeric ``loss`` list).

    Args:
        record: the parsed JSON.
        source: how to name the record in messages (its path).

    Returns:
        dict: ``record``.

    Raises:
        ValueError: naming ``source``, the field and what it holds.

    Example:
        >>> check_record({"format": "gcl-result/1", "method": "grace"}, "r.json")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: r.json is not a complete result record: 'dataset' is missing; ...
    """
    from .results import RESULT_FORMAT

    if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
        raise ValueError(f"{source} is not a gcl result record ({RESULT_FORMAT})")

    def bad(field: str, why: str):
        return ValueError(f"{source} is not a complete result record: {field} {why}; re-run "
                          "the training to write a new one")

    for key in ("method", "dataset", "seeds", "metrics", "timing", "runs"):
        if key not in record:
            raise bad(repr(key), "is missing")
    for key in ("method", "dataset"):
        if not isinstance(record[key], str) or not record[key]:
            raise bad(f"{key!r}", f"must be a non-empty string, got {excerpt(record[key])}")
    seeds = record["seeds"]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                              for s in seeds):
        raise bad("'seeds'", f"must be a list of integers, got {excerpt(seeds)}")
    metrics = record["metrics"]
    if not isinstance(metrics, dict):
        raise bad("'metrics'", f"must be a mapping, got {excerpt(metrics)}")
    for name, m in metrics.items():
        if not isinstance(m, dict) or not all(_number(m.get(k)) for k in ("mean", "std")) \
                or not isinstance(m.get("values"), list) \
                or not all(_number(v) for v in m["values"]):
            raise bad(f"metric {name!r}", f"must hold finite numbers mean, std and values, got "
                                          f"{excerpt(m)}")
    timing = record["timing"]
    if not isinstance(timing, dict) or not _number(timing.get("train_s", 0.0)):
        raise bad("'timing'", f"must be a mapping with a numeric train_s, got {excerpt(timing)}")
    if "cpu_share" in timing and not _number(timing["cpu_share"]):
        raise bad("'timing'.cpu_share", f"must be a number, got {excerpt(timing['cpu_share'])}")
    runs = record["runs"]
    if not isinstance(runs, list):
        raise bad("'runs'", f"must be a list, got {excerpt(runs)}")
    listed = set(seeds)
    for i, run in enumerate(runs):
        if not isinstance(run, dict) or not isinstance(run.get("seed"), int) \
                or isinstance(run.get("seed"), bool) or run["seed"] not in listed:
            got = run.get("seed") if isinstance(run, dict) else run
            raise bad(f"runs[{i}]", f"needs an integer 'seed' listed in 'seeds' "
                                    f"{excerpt(seeds)}, got {excerpt(got)}")
        where = f"runs[{i}] (seed {run['seed']})"
        values = run.get("metrics")
        if not isinstance(values, dict):
            raise bad(f"{where}.metrics", f"must be a mapping, got {excerpt(values)}")
        for name, v in values.items():
            if not _number(v):
                raise bad(f"{where}.metrics[{name!r}]", f"must be a finite number, got "
                                                        f"{excerpt(v)}")
        loss = run.get("loss")
        if loss is not None and (not isinstance(loss, list)
                                 or not all(_number(v, finite=False) for v in loss)):
            first = next((v for v in loss if not _number(v, finite=False)), loss) \
                if isinstance(loss, list) else loss
            raise bad(f"{where}.loss", f"must be a list of numbers, got {excerpt(first)}")
        for key in ("train_s", "cpu_share"):
            if key in run and not _number(run[key]):
                raise bad(f"{where}.{key}", f"must be a number, got {excerpt(run[key])}")
    return record
