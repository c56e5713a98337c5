"""Helpers shared by the benchmark scripts (run as ``python bench/NAME.py``: this folder is on sys.path)."""

import os
import signal
import subprocess
from contextlib import suppress
from typing import Any


def kill_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Stop a child started with start_new_session=True, and whatever it started."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
