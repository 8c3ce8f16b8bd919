"""The development-data generator without a database: its tables, their order, the index schedule."""

from __future__ import annotations

import hashlib
from datetime import date

from tierflow.devdata import LOAD_ORDER, SCALES, TableLoad
from tierflow.devdata.generator import generate
from tierflow.devdata.loader import IndexSchedule, write_csv
from tierflow.devdata.scale import seed_period

# SHA-256 (first 16 hex digits) of the CSV that the loader ships for each table of the tiny
# dataset, seed 7, three years to 2026-06-30: the tests' fixture data. A change to any draw, or to
# the order of the draws, changes them; update them only for a change meant to alter the data.
TINY_SEED_7 = {
    "customers": (400, "78f66d4d0866fde9"),
    "loans": (1381, "b8c146d2f949c0d4"),
    "emi_schedules": (9687, "6c9801a8da85027e"),
    "loan_transactions": (8390, "ca4f0eccd8666162"),
    "user_device_apps": (7144, "23b66280b09f3692"),
    "user_device_sms": (4444, "bc59d1b1ea54e90d"),
    "communications": (3105, "5ded42d49a5dd737"),
    "communication_events": (6796, "17e322ed22392941"),
    "api_request_logs": (8000, "b64d96d76545771b"),
}


def test_the_tiny_dataset_is_the_same_table_for_table(tmp_path) -> None:
    start, end = seed_period(date(2026, 6, 30), 3)
    made = {}
    for name, table in generate(SCALES["tiny"], start, end, 7):
        path = tmp_path / f"{name}.csv"
        write_csv(table, path)
        made[name] = (table.num_rows, hashlib.sha256(path.read_bytes()).hexdigest()[:16])
    assert list(made) == LOAD_ORDER
    assert made == TINY_SEED_7


def test_another_seed_draws_other_data(tmp_path) -> None:
    start, end = seed_period(date(2026, 6, 30), 1)
    first = dict(generate(SCALES["tiny"], start, end, 1))["customers"]
    other = dict(generate(SCALES["tiny"], start, end, 2))["customers"]
    assert first.num_rows == other.num_rows and not first.equals(other)


def test_a_parents_indexes_wait_for_its_last_child() -> None:
    foreign_keys = [
        ("loans", "customer_id", "customers", "id"),
        ("emi_schedules", "loan_id", "loans", "id"),
        ("loan_transactions", "loan_id", "loans", "id"),
        ("customers", "referrer_id", "customers", "id"),  # a self-reference never blocks
        ("audit", "loan_id", "loans", "id"),  # a table outside the seed never blocks
    ]
    order = ["customers", "loans", "emi_schedules", "loan_transactions"]
    schedule = IndexSchedule(foreign_keys, order)
    ready = [schedule.loaded_now(TableLoad(name, 1, 0.0)) for name in order]
    assert ready == [[], ["customers"], ["emi_schedules"], ["loan_transactions", "loans"]]
