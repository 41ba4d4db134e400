"""Shared helpers of the benchmark scripts: peak-memory probes, timing, result files.

Every benchmark writes one ``gcl-bench/1`` JSON file under ``benchmarks/results/``; the page
``docs/benchmarks.md`` is generated from those files by ``python benchmarks/report.py``
(``make bench`` runs the scripts, then the generator).
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from pathlib import Path

import torch
from report import BENCH_FORMAT  # benchmarks/report.py, beside this file

from gcl.results import device_description, versions, write_json

RESULTS_DIR = Path(os.environ.get("GCL_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_mb() -> float:
    """The process's resident set size now, in MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except OSError:  # pragma: no cover - not Linux
        return 0.0


class PeakMemory:
    """Peak memory above the level at entry, in MiB, of the code run inside the block.

    On CUDA it reads the allocator's peak; on the CPU a thread samples the resident set size
    every ``interval`` seconds (the peak of a short spike between two samples can be missed,
    so intervals are kept at 1 ms).
    """

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.001) -> None:
        self.device = torch.device(device)
        self.interval = interval
        self.peak_mb = 0.0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device) / 2**20
            return self
        self._base = current_rss_mb()
        self._max = self._base
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.is_set():
                self._max = max(self._max, current_rss_mb())
                time.sleep(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 - self._base
            return
        self._max = max(self._max, current_rss_mb())
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self._max - self._base, 0.0)


def synchronize(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device="cpu", repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def write_bench(name: str, *, title: str, description: str, columns: list[str], rows: list[list],
                device, notes: list[str] | None = None, extra: dict | None = None,
                results_dir: Path | None = None, command: str | None = None) -> Path:
    """Write one benchmark's table as ``benchmarks/results/<name>.json``.

    ``device`` is a torch device (described as in result records) or an already written
    description; ``command`` defaults to the running command line."""
    record = {
        "format": BENCH_FORMAT,
        "name": name,
        "title": title,
        "description": description,
        "columns": columns,
        "rows": rows,
        "notes": notes or [],
        "device": device if isinstance(device, str) and ":" in device
        else device_description(device),
        "versions": versions(),
        "command": command or "python " + " ".join(shlex.quote(a) for a in [
            os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if extra:
        record.update(extra)
    path = (results_dir or RESULTS_DIR) / f"{name}.json"
    write_json(record, path)
    print(f"wrote {path}")
    return path


def run_worker(script: str | Path, args: list[str]) -> dict:
    """Run ``python script *args`` in a fresh process and return the JSON object it printed last
    (or ``{"error": ...}`` when it failed), so each measurement starts from a clean process."""
    import json
    import subprocess

    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:160]}"}
    return json.loads(lines[-1])


def trim_heap() -> None:
    """Collect garbage and hand the C heap's free memory back to the system (glibc), so that a
    resident-set reading after it counts what is held, not what the allocator kept."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current resident set size, so that
    :func:`peak_rss_mb` counts only what runs after it (Linux; elsewhere a no-op, and the peak
    then covers the whole process)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # pragma: no cover - not Linux, or not permitted
        pass


def peak_rss_mb() -> float:
    """The process's peak resident set size in MiB since it started or since the last
    :func:`reset_peak_rss` (``VmHWM``; ``ru_maxrss`` where ``/proc`` is missing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
