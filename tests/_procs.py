"""Helpers for the tests that run training in a subprocess and kill it."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for_file(path: Path, proc, timeout: float) -> None:
    """Wait until ``path`` exists while the subprocess ``proc`` runs (tests that kill a
    training run once its first checkpoint is written); fail if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"training exited early ({proc.returncode}): {err.decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no checkpoint at {path} after {timeout} s")
        time.sleep(0.05)
