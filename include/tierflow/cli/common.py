"""What every command group shares: the options defined once, the two consoles, ``parse_as_of``
and the command context (settings and policy). Imports only typer and the standard library.

``--as-of`` has one meaning in every command: a day ``D`` is the end of ``D`` in UTC, so that
everything up to and including ``D`` is in view (while ``D`` is today, that end is now); a timestamp
is that moment, an offset converted to UTC; no value is now.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from tierflow.config import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from tierflow.policy import Policy

AS_OF_HELP = (
    "As of the end of this day (YYYY-MM-DD, UTC; today: now), or of this ISO moment (an offset is "
    "converted to UTC); default now."
)

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Tier policy file [env TIERFLOW_POLICY, default include/tiers.yaml]."),
]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TablesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--table", "-t", help="Only this table (repeatable); default: every table the command covers."
    ),
]
ProgressOption = Annotated[bool, typer.Option(help="Show a progress bar.")]


@functools.cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def console() -> Console:
    """The one console for results (stdout). Made on first use: commands that print none import no rich."""
    return _console(stderr=False)


def err_console() -> Console:
    """The one console for errors, problems and progress bars (stderr)."""
    return _console(stderr=True)


def fail(lines: str | list[str], code: int = 1, tag: str = "error:") -> NoReturn:
    """Print each line to stderr after a red ``tag`` and exit with ``code`` (1: a check found problems)."""
    for line in [lines] if isinstance(lines, str) else lines:
        err_console().print(f"[bold red]{tag}[/bold red] {line}", highlight=False)
    sys.exit(code)


def parse_as_of(value: str | None, *, now: datetime | None = None) -> datetime:
    """``--as-of`` as a naive UTC datetime, the one meaning of the option in every command.

    - ``None`` or empty: now.
    - A day ``YYYY-MM-DD``: the end of that day, UTC (23:59:59.999999), so the whole day is in
      view; while the day is today its end has not come yet, so it is now. A later day is its end,
      and the commands that refuse a future moment (``archive plan|run``) refuse it.
    - An ISO timestamp: that moment; one with an offset (``2026-06-30T05:30+05:30``) is converted
      to UTC, never cut off.
    """
    from tierflow.clock import as_of_moment

    try:
        return as_of_moment(value, now=now)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or ISO timestamp") from None


def parse_since(value: str | None) -> datetime | None:
    """``--since``: a day is its start (midnight UTC), a timestamp that moment (UTC); None is None."""
    from tierflow.clock import to_utc

    if not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or ISO timestamp") from None


@dataclass(frozen=True)
class Context:
    """What a command works with: the settings, and the tier policy they name (read on first use)."""

    settings: Settings

    @functools.cached_property
    def policy(self) -> Policy:
        from tierflow.policy import load_policy

        return load_policy(self.settings.policy_path)


def context(policy: Path | None = None) -> Context:
    """The one way a command builds its context: settings from the environment, ``--policy`` over
    ``TIERFLOW_POLICY``."""
    s = Settings.from_env()
    return Context(s.with_(policy_path=policy) if policy else s)
