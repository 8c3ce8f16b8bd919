"""``tierflow config``: the effective settings, as every command resolves them."""

from __future__ import annotations

from tierflow.cli import common


def config_cmd() -> None:
    """Print the effective settings (passwords masked)."""
    out = common.console()
    for key, value in common.context().settings.redacted().items():
        out.print(f"{key:18} {value}")
