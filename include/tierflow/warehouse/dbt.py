"""Runs dbt (the project in ``dbt/``) as a subprocess from the project's virtualenv, with the
profile's ``TIERFLOW_DBT_*`` variables derived from the warehouse URL, and reads its artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.paths import DBT_DIR
from tierflow.urls import is_redshift, parse

log = get_logger("tierflow.warehouse.dbt")

DEFAULT_AUDIT_SCHEMA = "analytics_audit"


class DbtFailed(TierflowError):
    """dbt exited non-zero; the message names the failing models and tests."""


def dbt_executable() -> str:
    """``dbt`` beside the running Python (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise TierflowError("dbt is not installed in this environment; run `make venv`")
    return found


# What dbt/profiles.yml reads through env_var(), besides the optional TIERFLOW_DBT_THREADS: the
# CLI's dbt runs and the DAG's Cosmos tasks both set every one of them from ``profile_env``.
PROFILE_VARS = (
    "TIERFLOW_DBT_TARGET",
    "TIERFLOW_DBT_HOST",
    "TIERFLOW_DBT_PORT",
    "TIERFLOW_DBT_USER",
    "TIERFLOW_DBT_PASSWORD",
    "TIERFLOW_DBT_DBNAME",
    "TIERFLOW_DBT_SCHEMA",
    "TIERFLOW_DBT_CLUSTER_ID",
    "TIERFLOW_DBT_WORKGROUP",
    "TIERFLOW_DBT_SERVERLESS",
    "TIERFLOW_DBT_REGION",
)


def profile_env(
    warehouse_url: str,
    schema: str = DEFAULT_AUDIT_SCHEMA,
    *,
    environ: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> dict[str, str]:
    """Every ``PROFILE_VARS`` value for ``warehouse_url``: the ``prod`` (Redshift) or ``local``
    target, and on Redshift the same IAM sign-in as every other step
    (``stores.warehouse.redshift_connect_kwargs``, with ``settings``' region and keys; the region
    falls back to ``environ``'s AWS one). ``settings``' dbt target, when set, wins."""
    u = parse(warehouse_url)
    environ = os.environ if environ is None else environ
    redshift = is_redshift(warehouse_url)
    env = {
        "TIERFLOW_DBT_TARGET": settings.dbt_profile_target
        if settings is not None and settings.dbt_target
        else ("prod" if redshift else "local"),
        "TIERFLOW_DBT_HOST": u.host,
        "TIERFLOW_DBT_PORT": str(u.port or (5439 if redshift else 5432)),
        "TIERFLOW_DBT_USER": u.user or "postgres",
        "TIERFLOW_DBT_PASSWORD": u.password or "",
        "TIERFLOW_DBT_DBNAME": u.database or "",
        "TIERFLOW_DBT_SCHEMA": schema,
        "TIERFLOW_DBT_CLUSTER_ID": "",
        "TIERFLOW_DBT_WORKGROUP": "",
        "TIERFLOW_DBT_SERVERLESS": "False",
        "TIERFLOW_DBT_REGION": "",
    }
    if redshift:
        from tierflow.stores.warehouse import redshift_connect_kwargs

        kwargs = redshift_connect_kwargs(warehouse_url, aws=settings)
        env.update(
            TIERFLOW_DBT_CLUSTER_ID=kwargs.get("cluster_identifier") or "",
            TIERFLOW_DBT_WORKGROUP=kwargs.get("serverless_work_group") or "",
            TIERFLOW_DBT_SERVERLESS=str(bool(kwargs.get("is_serverless"))),
            TIERFLOW_DBT_REGION=kwargs.get("region")
            or environ.get("AWS_DEFAULT_REGION")
            or environ.get("AWS_REGION")
            or "",
        )
    return env


def dbt_env(
    warehouse_url: str,
    schema: str = DEFAULT_AUDIT_SCHEMA,
    *,
    threads: int | None = None,
    base: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> dict[str, str]:
    """The environment of a dbt run: ``base`` (default: this process's) with ``profile_env``.

    ``settings`` (those of ``warehouse_url``'s run): their dbt target, PII key, AWS region and
    explicit AWS credentials reach dbt too; without them the target follows the URL's dialect."""
    env = dict(os.environ if base is None else base)
    env.update(profile_env(warehouse_url, schema, environ=env, settings=settings))
    env.update(DBT_PROFILES_DIR=str(DBT_DIR), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    if settings is not None:
        if settings.pii_key is not None:
            env["TIERFLOW_PII_SALT"] = settings.pii_key
        creds = settings.aws_credentials()
        env.update({name.upper(): value for name, value in creds.items()})
        if creds and "aws_session_token" not in creds:
            env.pop("AWS_SESSION_TOKEN", None)  # a token of other keys would not sign these
    if threads:
        env["TIERFLOW_DBT_THREADS"] = str(threads)
    return env


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    output: str
    target_path: Path

    def failures(self) -> list[str]:
        """'<status> <node>: <message>' for each node that errored or failed (run_results.json)."""
        path = self.target_path / "run_results.json"
        if not path.is_file():
            return []
        results = json.loads(path.read_text()).get("results", [])
        out = []
        for r in results:
            if r.get("status") in {"error", "fail", "runtime error"}:
                msg = (r.get("message") or "").strip().splitlines()
                out.append(f"{r['status']} {r['unique_id']}: {msg[0] if msg else ''}")
        return out


def run_dbt(
    args: list[str],
    warehouse_url: str,
    schema: str = DEFAULT_AUDIT_SCHEMA,
    *,
    target_path: Path | None = None,
    check: bool = True,
    threads: int | None = None,
    project_dir: Path = DBT_DIR,
    settings: Settings | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` in the project; raise DbtFailed naming failing nodes when ``check``.

    The profile always comes from ``dbt/profiles.yml``; ``project_dir`` may point elsewhere (tests).
    """
    target_path = target_path or project_dir / "target"
    cmd = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(DBT_DIR),
        "--target-path",
        str(target_path),
    ]
    env = dbt_env(warehouse_url, schema, threads=threads, settings=settings)
    log.info("dbt", args=" ".join(args), schema=schema)
    proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True, check=False)
    result = DbtResult(cmd, proc.returncode, proc.stdout + proc.stderr, target_path)
    if check and proc.returncode != 0:
        failing = result.failures()
        detail = "\n".join(f"  - {f}" for f in failing) or "\n".join(
            "  " + line for line in result.output.strip().splitlines()[-15:]
        )
        raise DbtFailed(f"dbt {args[0]} failed in schema {schema}:\n{detail}")
    return result


def project_var(name: str, project_dir: Path = DBT_DIR):
    """A var's default from ``dbt_project.yml`` (None when the project does not set it)."""
    import yaml

    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    return (project.get("vars") or {}).get(name)


def load_manifest(target_path: Path | None = None) -> dict:
    path = (target_path or DBT_DIR / "target") / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TierflowError(f"{path} is missing; run `tierflow warehouse parse` first") from None


@dataclass(frozen=True)
class Relation:
    name: str  # relation name (alias) in its schema
    schema_suffix: str  # "" for marts in the target schema, "_staging", ... for other layers
    materialized: str


def project_relations(manifest: dict) -> list[Relation]:
    """Every model of this project with where it lives relative to the target schema."""
    out = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("package_name") != manifest.get(
            "metadata", {}
        ).get("project_name", node.get("package_name")):
            continue
        custom = node.get("config", {}).get("schema")
        out.append(
            Relation(
                name=node.get("alias") or node["name"],
                schema_suffix=f"_{custom}" if custom else "",
                materialized=node.get("config", {}).get("materialized", "view"),
            )
        )
    return sorted(out, key=lambda r: (r.schema_suffix, r.name))
