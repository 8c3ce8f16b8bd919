"""Fixtures shared by the archive's integration tests."""

from __future__ import annotations

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY

from tests.conftest import NO_WAREHOUSE_URL
from tests.integration.test_archive_run import make_rows


@pytest.fixture
def small_settings(mysql_url: str, file_archive_uri: str) -> Settings:
    """60 cold and 5 warm loan_transactions over 3 days, a file:// archive, no warehouse."""
    make_rows(mysql_url)
    return Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
