"""Repointing a published view without losing its grants: ``CREATE OR REPLACE VIEW`` keeps the
view's owner and privileges on both engines, but accepts only the same columns; when a mart's
columns changed, the view is dropped and created again and its grants are given back in the same
transaction."""

from __future__ import annotations

from tierflow.warehouse.columns import quote
from tierflow.warehouse.sql import REDSHIFT, qualified

ViewColumns = list[tuple]


def relation_columns(conn, dialect: str, schema: str, name: str) -> ViewColumns:
    """(name, type, length, precision, scale) of each column, in order; [] when it does not exist.
    Redshift's SVV_COLUMNS also lists a late-binding view's columns, which information_schema
    does not."""
    catalog = "svv_columns" if dialect == REDSHIFT else "information_schema.columns"
    rows = conn.execute(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "  # noqa: S608 - a catalog name, bound values
        f"FROM {catalog} WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    return [tuple(r) for r in rows]


def grants_on(conn, dialect: str, schema: str, name: str) -> list[tuple[str, str, str]]:
    """(grantee, grantee kind, privilege) of every privilege granted on a relation to someone
    other than the current user (its owner after the re-create); the kind is Redshift's
    ``user``/``group``/``role``, empty on PostgreSQL."""
    if dialect == REDSHIFT:
        rows = conn.execute(
            "SELECT identity_name, identity_type, privilege_type FROM svv_relation_privileges "
            "WHERE namespace_name = %s AND relation_name = %s AND identity_name <> current_user",
            (schema, name),
        ).fetchall()
        return [(g, kind, p) for g, kind, p in rows]
    rows = conn.execute(
        "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
        "WHERE table_schema = %s AND table_name = %s AND grantee <> current_user",
        (schema, name),
    ).fetchall()
    return [(g, "", p) for g, p in rows]


def grant_sql(view: str, grantee: str, kind: str, privilege: str) -> str:
    """Redshift names a group or role grantee as such; PostgreSQL's roles need no keyword."""
    to = {"group": "GROUP ", "role": "ROLE "}.get(kind, "")
    return f"GRANT {privilege} ON {view} TO {to}{quote(grantee)}"


def view_sql(view: str, source: str, dialect: str, *, replace: bool = True) -> str:
    """The published view over a slot's mart. On Redshift late-binding (WITH NO SCHEMA BINDING):
    the slot's table can be rebuilt without the view in the way."""
    binding = " WITH NO SCHEMA BINDING" if dialect == REDSHIFT else ""
    verb = "CREATE OR REPLACE VIEW" if replace else "CREATE VIEW"
    return f"{verb} {view} AS SELECT * FROM {source}{binding}"  # noqa: S608 - quoted names


def repoint_view_statements(conn, dialect: str, view_schema: str, source_schema: str, name: str) -> list[str]:
    """The statements that make ``view_schema.name`` read ``source_schema.name``, keeping every
    grant on it. Run them in the caller's transaction."""
    view, source = qualified(view_schema, name), qualified(source_schema, name)
    current = relation_columns(conn, dialect, view_schema, name)
    if not current or current == relation_columns(conn, dialect, source_schema, name):
        return [view_sql(view, source, dialect)]
    grants = grants_on(conn, dialect, view_schema, name)
    return [
        f"DROP VIEW {view}",
        view_sql(view, source, dialect, replace=False),
        *(grant_sql(view, grantee, kind, privilege) for grantee, kind, privilege in grants),
    ]
