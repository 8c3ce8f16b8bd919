"""Test hooks: ``TIERFLOW_ARCHIVE_CRASH_AT=phase[:n]`` kills the process (SIGKILL) at the n-th
pass of a named phase, ``TIERFLOW_ARCHIVE_PAUSE_AT=phase:seconds`` sleeps there. The kill -9 suites
use them; unset, they cost one environment lookup.
"""

from __future__ import annotations

import os
import signal
import time

CRASH_ENV = "TIERFLOW_ARCHIVE_CRASH_AT"
PAUSE_ENV = "TIERFLOW_ARCHIVE_PAUSE_AT"  # test hook: phase:seconds
_crash_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Test hook: ``TIERFLOW_ARCHIVE_CRASH_AT=phase[:n]`` kills the process (SIGKILL) there."""
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.partition(":")[0] == name:
        time.sleep(float(pause.partition(":")[2] or 1))
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    phase, _, nth = spec.partition(":")
    if phase != name:
        return
    _crash_hits[name] = _crash_hits.get(name, 0) + 1
    if _crash_hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
