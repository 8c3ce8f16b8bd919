"""The warehouse tier: incremental load MySQL -> staging Parquet -> raw_audit -> gate -> raw, then
dbt builds the marts in an audit slot and publish swaps them into ``analytics`` atomically.

Modules: ``columns`` (MySQL -> warehouse/Arrow types), ``load`` (the one write-audit-publish loop
of raw tables) over ``target.RawTarget`` (``target``: PostgreSQL; ``redshift``: production COPY/MERGE),
``gates`` (GX suites run as SQL on the warehouse), ``dbt`` (runs dbt, builds its profile environment),
``publish`` (audit slot -> ``analytics``, keeping grants through ``views``), ``lease`` (build and
Redshift load leases), ``access`` (users, groups, grants), ``raw_ddl`` (the raw schema from MySQL's),
``preflight`` (checks a target).
"""

RAW_SCHEMA = "raw"
AUDIT_SCHEMA = "raw_audit"
WATERMARKS_TABLE = "_tierflow_watermarks"
PUBLICATIONS_TABLE = "_tierflow_publications"
ANALYTICS_SCHEMA = "analytics"
LOADED_AT = "_loaded_at"
