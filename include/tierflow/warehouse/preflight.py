"""``tierflow warehouse preflight``: checks a live warehouse before its first deploy (each step's
sign-in, the schemas and the grants of tierflow.warehouse.access, Spectrum, the dbt target) and
returns one result per check, with the fix when it fails."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierflow.config import Settings
from tierflow.stores import warehouse
from tierflow.urls import is_redshift, parse, redact
from tierflow.warehouse.access import (
    ARCHIVE_SCHEMA,
    SCHEMAS,
    AccessModel,
    Identities,
    access_model,
    default_grant_sql,
    schema_grant_sql,
)
from tierflow.warehouse.columns import quote
from tierflow.warehouse.sql import POSTGRES, REDSHIFT

SETUP = "sql/redshift/000_access.sql"
GLUE_DATABASE = "tierflow_archive"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _one(conn, sql: str, params: tuple = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def sign_in(url: str, step: str, group: str, aws: Settings | None = None) -> tuple[Any, list[Check]]:
    """Connect as ``step`` (on Redshift with ``aws``'s region and keys) and check who the
    warehouse says we are: the URL's user, in ``group``."""
    user = parse(url).user or "postgres"
    try:
        conn = warehouse.connect(url, autocommit=True, aws=aws)
    except Exception as exc:  # noqa: BLE001 - every reason a sign-in fails is the check's answer
        fix = (
            "check the endpoint, ?cluster= / ?workgroup=, and that the IAM identity may call "
            f"redshift:GetClusterCredentials for the database user {user}"
            if is_redshift(url)
            else "check the URL and that the server is up"
        )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, [Check(f"connection ({step})", False, f"{redact(url)}: {first}", fix)]
    current = _one(conn, "SELECT current_user")
    checks = [Check(f"connection ({step})", True, f"connected to {parse(url).database} as {current}")]
    if current != user:
        checks.append(
            Check(f"identity ({step})", False, f"signed in as {current}, not {user}", "fix the URL's user")
        )
        return conn, checks
    member = _one(
        conn,
        "SELECT 1 FROM pg_group g JOIN pg_user u ON u.usesysid = ANY(g.grolist) "
        "WHERE g.groname = %s AND u.usename = %s",
        (group, user),
    )
    checks.append(
        Check(
            f"identity ({step})",
            bool(member),
            f"{user} is {'' if member else 'not '}in group {group}",
            f"ALTER GROUP {quote(group)} ADD USER {quote(user)}  ({SETUP})",
        )
    )
    return conn, checks


def _schema_privileges(conn, dialect: str, group: str, schema: str) -> set[str]:
    if dialect == REDSHIFT:
        rows = conn.execute(
            "SELECT privilege_type FROM svv_schema_privileges "
            "WHERE namespace_name = %s AND identity_name = %s AND identity_type = 'group'",
            (schema, group),
        ).fetchall()
        return {str(r[0]).upper() for r in rows}
    return {
        p
        for p in ("USAGE", "CREATE")
        if _one(conn, "SELECT has_schema_privilege(%s, %s, %s)", (group, schema, p))
    }


def _default_select(conn, dialect: str, owner: str, schema: str, group: str) -> bool:
    if dialect == REDSHIFT:
        return bool(
            _one(
                conn,
                "SELECT 1 FROM svv_default_privileges WHERE schema_name = %s AND owner_name = %s "
                "AND grantee_name = %s AND grantee_type = 'group' AND object_type = 'RELATION' "
                "AND privilege_type = 'SELECT'",
                (schema, owner, group),
            )
        )
    acl = _one(
        conn,
        "SELECT d.defaclacl::text FROM pg_default_acl d "
        "JOIN pg_namespace n ON n.oid = d.defaclnamespace JOIN pg_roles r ON r.oid = d.defaclrole "
        "WHERE n.nspname = %s AND r.rolname = %s AND d.defaclobjtype = 'r'",
        (schema, owner),
    )
    return f"{group}=r" in (acl or "")


def grant_checks(conn, dialect: str, model: AccessModel) -> list[Check]:
    """The schemas, the groups, each group's schema grants and default privileges, and that the
    analysts reach no raw table or the archive directly."""
    present = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
    missing = [s for s in SCHEMAS if s not in present]
    fix = f"run {SETUP} as an admin"
    checks = [
        Check("schemas", not missing, f"missing {', '.join(missing)}" if missing else ", ".join(SCHEMAS), fix)
    ]
    ids = model.ids
    groups = {r[0] for r in conn.execute("SELECT groname FROM pg_group").fetchall()}
    absent = [g for g in (ids.loaders, ids.builders, ids.analysts) if g not in groups]
    checks.append(Check("groups", not absent, f"missing {', '.join(absent)}" if absent else "all three", fix))
    if missing or absent:
        return checks
    for g in model.schema_grants:
        lacking = set(g.privileges) - _schema_privileges(conn, dialect, g.group, g.schema)
        held = f"lacks {', '.join(sorted(lacking))}" if lacking else f"holds {', '.join(g.privileges)}"
        checks.append(Check("grants", not lacking, f"{g.group} {held} on {g.schema}", schema_grant_sql(g)))
    for d in model.defaults:
        ok = _default_select(conn, dialect, d.owner, d.schema, d.group)
        detail = f"what {d.owner} creates in {d.schema} is {'' if ok else 'not '}readable by {d.group}"
        checks.append(Check("default privileges", ok, detail, "; ".join(default_grant_sql(d))))
    for schema in model.analyst_denied:
        if schema not in present:
            continue
        privileges = _schema_privileges(conn, dialect, ids.analysts, schema)
        checks.append(
            Check(
                "analysts kept out",
                "USAGE" not in privileges,
                f"{ids.analysts} {'may read' if 'USAGE' in privileges else 'cannot read'} {schema} directly",
                f"REVOKE USAGE ON SCHEMA {quote(schema)} FROM GROUP {quote(ids.analysts)}",
            )
        )
    return checks


def spectrum_checks(conn, settings: Settings, glue_database: str = GLUE_DATABASE) -> list[Check]:
    """Redshift only: the external schema over the archive's Glue database, its IAM role, and the
    loader's COPY role, each looked up where it lives (the cluster, Glue, IAM)."""
    from tierflow.stores import aws

    fix = "run sql/redshift/002_spectrum_archive.sql as an admin with -v iam_role=\"'<role arn>'\""
    row = conn.execute(
        "SELECT databasename, esoptions FROM svv_external_schemas WHERE schemaname = %s", (ARCHIVE_SCHEMA,)
    ).fetchone()
    if not row:
        return [Check("external schema", False, f"no external schema {ARCHIVE_SCHEMA}", fix)]
    database, options = row
    role = (json.loads(options or "{}") or {}).get("IAM_ROLE", "")
    checks = [
        Check(
            "external schema",
            database == glue_database,
            f"{ARCHIVE_SCHEMA} reads Glue database {database}",
            f"recreate it over {glue_database} ({fix})",
        )
    ]
    try:
        aws.client(settings, "glue").get_database(Name=database)
        checks.append(Check("Glue database", True, f"{database} exists"))
    except Exception as exc:  # noqa: BLE001 - every reason the lookup fails is the check's answer
        checks.append(
            Check(
                "Glue database",
                False,
                f"{database}: {exc}",
                "run `tierflow archive` once (it keeps the catalog)",
            )
        )
    copy_role = parse(settings.warehouse_url).query.get("iam_role")
    for name, arn in (("Spectrum IAM role", role), ("COPY IAM role", copy_role)):
        if not arn:
            checks.append(
                Check(
                    name,
                    False,
                    "none set",
                    "give the external schema / the loader URL (&iam_role=) a role ARN",
                )
            )
            continue
        try:
            aws.client(settings, "iam").get_role(RoleName=arn.rsplit("/", 1)[-1])
            checks.append(Check(name, True, f"{arn} exists"))
        except Exception as exc:  # noqa: BLE001 - every reason the lookup fails is the check's answer
            checks.append(Check(name, False, f"{arn}: {exc}", "create the role and attach it to the cluster"))
    return checks


def dbt_target_check(
    build_url: str, profiles_dir: Path | None = None, settings: Settings | None = None
) -> Check:
    """The profile's target for the builder's URL: its adapter matches the warehouse, and on
    Redshift it signs in with IAM as the builder (dbt/profiles.yml rendered as dbt renders it)."""
    import yaml
    from jinja2 import Environment

    from tierflow.paths import DBT_DIR
    from tierflow.warehouse.dbt import dbt_env

    env = dbt_env(build_url, base={}, settings=settings)
    jinja = Environment(autoescape=False)  # noqa: S701 - YAML, not HTML
    jinja.filters.update(as_number=lambda v: v, as_bool=lambda v: str(v) == "True")
    jinja.globals["env_var"] = lambda name, default="": env.get(name, default)
    profile = yaml.safe_load(((profiles_dir or DBT_DIR) / "profiles.yml").read_text())["tierflow"]
    name = jinja.from_string(profile["target"]).render()
    output = {k: jinja.from_string(str(v)).render() for k, v in profile["outputs"].get(name, {}).items()}
    want = "redshift" if is_redshift(build_url) else "postgres"
    u = parse(build_url)
    user = u.user or "postgres"
    ok = output.get("type") == want and output.get("user") == user
    ok = ok and output.get("host") == u.host and output.get("dbname") == (u.database or "")
    if want == "redshift":
        ok = ok and output.get("method") == "iam"
    detail = f"target {name}: {output.get('type')} as {output.get('user')}" + (
        f", method {output.get('method')}" if want == "redshift" else ""
    )
    return Check(
        "dbt target",
        ok,
        detail,
        f"dbt/profiles.yml target {name} must be type {want}, as {user} on {u.host}/{u.database}",
    )


def preflight(settings: Settings, *, ids: Identities = Identities()) -> list[Check]:
    """Every check, in order; a step that cannot sign in ends its part early."""
    model = access_model(ids)
    dialect = REDSHIFT if is_redshift(settings.warehouse_url) else POSTGRES
    build_url = settings.as_builder().warehouse_url
    checks: list[Check] = []
    conns = []
    try:
        for step, url, group in (
            ("loader", settings.warehouse_url, ids.loaders),
            ("builder", build_url, ids.builders),
        ):
            conn, found = sign_in(url, step, group, settings)
            checks += found
            if conn is not None:
                conns.append(conn)
        if conns:
            checks += grant_checks(conns[-1], dialect, model)
            if dialect == REDSHIFT:
                checks += spectrum_checks(conns[-1], settings)
    finally:
        for conn in conns:
            conn.close()
    checks.append(dbt_target_check(build_url, settings=settings))
    return checks
