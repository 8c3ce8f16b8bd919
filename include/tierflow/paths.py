"""Where the project's own files live (schema DDL, policy, expectations, dbt project)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
MYSQL_DDL_DIR = SQL_DIR / "mysql"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DBT_DIR = PROJECT_ROOT / "dbt"
DEFAULT_POLICY = PROJECT_ROOT / "include" / "tiers.yaml"
LOCAL_DATA_DIR = PROJECT_ROOT / ".data"
