"""What the benchmarks read off this machine besides their own timings."""

from __future__ import annotations

import os
from pathlib import Path


def mysqld_cpu() -> float | None:
    """CPU seconds the local MySQL/MariaDB server has used so far (None if it is not local)."""
    clk = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() in {"mariadbd", "mysqld"}:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / clk
        except OSError:
            continue
    return None
