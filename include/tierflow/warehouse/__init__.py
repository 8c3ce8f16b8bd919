"""The warehouse tier: incremental load MySQL -> staging Parquet -> raw_audit -> gate -> raw, then
dbt builds the marts in an audit slot and publish swaps them into ``analytics`` atomically.

Modules: ``columns`` (MySQL -> warehouse/Arrow types), ``load`` (the one write-audit-publish loop
of raw tables) over ``target.RawTarget`` (``target``: PostgreSQL; ``redshift``: production COPY/MERGE),
``gates`` (GX suites run as SQL on the warehouse), ``dbt`` (runs dbt, builds its profile environment),
``publish`` (audit slot -> ``analytics``, keeping grants through ``views``), ``lease`` (build and
Redshift load leases), ``access`` (users, groups, grants), ``raw_ddl`` (the raw schema from MySQL's),
``preflight`` (checks a target).
Other tiers use ``loaded_versions`` (what ``raw.<table>`` holds, for the archive's delete check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierflow.config import Settings
    from tierflow.policy import TablePolicy
    from tierflow.warehouse.loaded import LoadedVersions

RAW_SCHEMA = "raw"
AUDIT_SCHEMA = "raw_audit"
WATERMARKS_TABLE = "_tierflow_watermarks"
PUBLICATIONS_TABLE = "_tierflow_publications"
ANALYTICS_SCHEMA = "analytics"
LOADED_AT = "_loaded_at"


def loaded_versions(url: str, table: TablePolicy, aws: Settings | None = None) -> LoadedVersions:
    """Each loaded row's version in ``raw.<table>`` on the warehouse at ``url``; use as a context."""
    from tierflow.warehouse.loaded import LoadedVersions

    return LoadedVersions(url, table, aws=aws)
