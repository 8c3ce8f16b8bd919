"""``tierflow devices``: device data from the phone (installed apps and SMS), and the bank-SMS parser."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

devices_app = typer.Typer(
    help="Device data: installed apps and SMS, and the bank-SMS parser.", no_args_is_help=True
)


@devices_app.command("parse-sms")
def parse_sms_cmd(
    source: Annotated[str, typer.Argument(help="JSON lines {sender, body}; '-' reads stdin.")] = "-",
) -> None:
    """Parse bank SMS: one JSON object out per JSON line in (financial, kind, direction, amount, ...)."""
    from tierflow.devices import parse_sms

    lines = sys.stdin if source == "-" else Path(source).open(encoding="utf-8")
    out = sys.stdout
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            parsed = parse_sms(str(message.get("sender", "")), str(message["body"]))
        except (ValueError, KeyError, AttributeError) as exc:
            typer.echo(f"{source}:{number}: not a JSON object with a 'body' ({exc}); fix the line", err=True)
            raise typer.Exit(2) from exc
        out.write(json.dumps(parsed.as_dict(), ensure_ascii=False) + "\n")
