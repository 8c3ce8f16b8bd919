"""Who may do what in the warehouse: the loader, builder and analyst groups, their users and
grants, rendered as the setup SQL of either engine (``sql/redshift/000_access.sql``) and read back
by ``tierflow warehouse preflight``.

Groups rather than roles: ``CREATE GROUP``, ``ALTER GROUP ... ADD USER`` and ``GRANT ... TO GROUP``
mean the same on Redshift and PostgreSQL, so the grants that the tests prove on PostgreSQL are the
ones a cluster gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierflow.warehouse import ANALYTICS_SCHEMA, AUDIT_SCHEMA, RAW_SCHEMA
from tierflow.warehouse.columns import quote

HISTORY_SCHEMA = "history"
ARCHIVE_SCHEMA = "archive"  # the Spectrum external schema (sql/redshift/002_spectrum_archive.sql)
SCHEMAS = (RAW_SCHEMA, AUDIT_SCHEMA, ANALYTICS_SCHEMA, HISTORY_SCHEMA)
DEFAULT_PREFIX = "tierflow"


@dataclass(frozen=True)
class Identities:
    """The names of the service users and of the three groups (``<prefix>_loader``, ...)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def loader(self) -> str:
        return f"{self.prefix}_loader"

    @property
    def builder(self) -> str:
        return f"{self.prefix}_builder"

    @property
    def loaders(self) -> str:
        return f"{self.prefix}_loaders"

    @property
    def builders(self) -> str:
        return f"{self.prefix}_builders"

    @property
    def analysts(self) -> str:
        return f"{self.prefix}_analysts"


@dataclass(frozen=True)
class SchemaGrant:
    group: str
    schema: str
    privileges: tuple[str, ...]  # USAGE, CREATE


@dataclass(frozen=True)
class DefaultGrant:
    """SELECT on every table and view that ``owner`` creates in ``schema`` goes to ``group``."""

    owner: str
    schema: str
    group: str


@dataclass(frozen=True)
class AccessModel:
    ids: Identities
    database_create: tuple[str, ...]  # groups with CREATE on the database
    schema_grants: tuple[SchemaGrant, ...]
    defaults: tuple[DefaultGrant, ...]
    # schemas whose tables the analysts must not read directly
    analyst_denied: tuple[str, ...] = (RAW_SCHEMA, AUDIT_SCHEMA, ARCHIVE_SCHEMA)


def access_model(ids: Identities = Identities()) -> AccessModel:
    """The loader writes raw and raw_audit (it owns those tables); the builder reads raw, creates
    the audit slots (dbt) and the ``analytics`` views and keeps its bookkeeping tables in raw; the
    analysts read ``analytics`` and ``history`` only, never raw, raw_audit or the archive."""
    return AccessModel(
        ids=ids,
        # CREATE SCHEMA IF NOT EXISTS checks this privilege even when the schema exists; the
        # builder's dbt creates each slot's schemas
        database_create=(ids.loaders, ids.builders),
        schema_grants=(
            SchemaGrant(ids.loaders, RAW_SCHEMA, ("USAGE", "CREATE")),
            SchemaGrant(ids.loaders, AUDIT_SCHEMA, ("USAGE", "CREATE")),
            SchemaGrant(ids.builders, RAW_SCHEMA, ("USAGE", "CREATE")),
            SchemaGrant(ids.builders, ANALYTICS_SCHEMA, ("USAGE", "CREATE")),
            SchemaGrant(ids.analysts, ANALYTICS_SCHEMA, ("USAGE",)),
            SchemaGrant(ids.analysts, HISTORY_SCHEMA, ("USAGE",)),
        ),
        defaults=(
            DefaultGrant(ids.loader, RAW_SCHEMA, ids.builders),
            DefaultGrant(ids.builder, ANALYTICS_SCHEMA, ids.analysts),
        ),
    )


def schema_grant_sql(g: SchemaGrant) -> str:
    return f"GRANT {', '.join(g.privileges)} ON SCHEMA {quote(g.schema)} TO GROUP {quote(g.group)}"


def default_grant_sql(d: DefaultGrant) -> list[str]:
    """What exists already, then what the owner creates from now on."""
    return [
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote(d.schema)} TO GROUP {quote(d.group)}",
        f"ALTER DEFAULT PRIVILEGES FOR USER {quote(d.owner)} IN SCHEMA {quote(d.schema)} "
        f"GRANT SELECT ON TABLES TO GROUP {quote(d.group)}",
    ]


def setup_statements(model: AccessModel, dialect: str, database: str) -> list[str]:
    """Users, groups and grants, in order. Run once by an admin; the GRANTs are idempotent, the
    CREATE USER / CREATE GROUP statements fail on a second run (neither engine has IF NOT EXISTS)."""
    from tierflow.warehouse.sql import REDSHIFT

    ids = model.ids
    # IAM only: a Redshift user without a password signs in with temporary IAM credentials
    password = " PASSWORD DISABLE" if dialect == REDSHIFT else ""
    out = [f"CREATE SCHEMA IF NOT EXISTS {quote(s)}" for s in SCHEMAS]
    out += [f"CREATE USER {quote(u)}{password}" for u in (ids.loader, ids.builder)]
    out += [f"CREATE GROUP {quote(g)}" for g in (ids.loaders, ids.builders, ids.analysts)]
    out += [
        f"ALTER GROUP {quote(ids.loaders)} ADD USER {quote(ids.loader)}",
        f"ALTER GROUP {quote(ids.builders)} ADD USER {quote(ids.builder)}",
    ]
    out += [f"GRANT CREATE ON DATABASE {database} TO GROUP {quote(g)}" for g in model.database_create]
    out += [schema_grant_sql(g) for g in model.schema_grants]
    for d in model.defaults:
        out += default_grant_sql(d)
    # the history views belong to the admin who runs 003_history_views.sql
    out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote(HISTORY_SCHEMA)} TO GROUP {quote(ids.analysts)}")
    out.append(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quote(HISTORY_SCHEMA)} "
        f"GRANT SELECT ON TABLES TO GROUP {quote(ids.analysts)}"
    )
    return out


ACCESS_HEADER = """\
-- Redshift: the warehouse's identities and grants. GENERATED by `tierflow warehouse ddl` from
-- tierflow/warehouse/access.py; do not edit by hand. Run once, as an admin, before the first load:
--   psql "$REDSHIFT_ADMIN_URL" -v database=tierflow_warehouse -f sql/redshift/000_access.sql
-- tierflow_loader (the load) and tierflow_builder (dbt, the mart gates, publish) sign in with IAM
-- only (PASSWORD DISABLE: temporary credentials from GetClusterCredentials). Analysts are added to
-- tierflow_analysts:  ALTER GROUP tierflow_analysts ADD USER <name>;
-- They read analytics.* and history.*, never raw, raw_audit or the archive directly.
-- Check the result with `tierflow warehouse preflight`.
"""


def setup_sql(model: AccessModel | None = None) -> str:
    """The text of ``sql/redshift/000_access.sql`` (the database as the psql variable)."""
    from tierflow.warehouse.sql import REDSHIFT

    statements = setup_statements(model or access_model(), REDSHIFT, ':"database"')
    return ACCESS_HEADER + "".join(f"\n{s};\n" for s in statements)
