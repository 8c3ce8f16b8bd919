"""The report as one line of text, for logs and task output (the DAG prints it). The terminal table
is drawn by the CLI (``tierflow.cli.render``): the report returns data."""

from __future__ import annotations

from tierflow.report.model import Report, human_bytes


def summary_line(report: Report) -> str:
    return (
        f"tier report {report.as_of[:10]}: {report.status}, {len(report.red)} violation(s), "
        f"{len(report.findings)} finding(s), database {human_bytes(report.database.bytes)}"
    )
