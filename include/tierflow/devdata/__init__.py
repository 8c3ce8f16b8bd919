"""Development data: a deterministic, realistic multi-year lending dataset, bulk loaded into MariaDB.

Everything is generated column-wise with numpy from one seed, written as CSV by Arrow and bulk
loaded with ``LOAD DATA LOCAL INFILE`` while the next table is being generated. All PII is fake.
"""

from tierflow.devdata.guard import DropRefusedError, check_drop_allowed
from tierflow.devdata.loader import LOAD_ORDER, TableLoad
from tierflow.devdata.scale import SCALES, Scale, datetime_bounds
from tierflow.devdata.seed import SeedReport, seed_database

__all__ = [
    "LOAD_ORDER",
    "SCALES",
    "DropRefusedError",
    "Scale",
    "SeedReport",
    "TableLoad",
    "check_drop_allowed",
    "datetime_bounds",
    "seed_database",
]
