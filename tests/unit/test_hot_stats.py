"""The hot tier's key mapping: which policy table a Redis key of the hot store's layout holds."""

from __future__ import annotations

from tierflow.hot.stats import table_of_key
from tierflow.hot.store import customer_keys
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

POLICY = load_policy(DEFAULT_POLICY)


def test_key_mapping_follows_the_hot_store_layout():
    names = list(POLICY.tables)
    assert table_of_key("tierflow:hot:{42}:loan_transactions:idx", names) == "loan_transactions"
    assert table_of_key("tierflow:hot:{42}:loans", names) == "loans"
    assert table_of_key("tierflow:hot:{42}:ver", names) is None
    assert table_of_key("tierflow:hot:{42}:features", names) is None
    assert table_of_key("tierflow:hot:reconcile:last", names) is None
    assert table_of_key("tierflow:events:dead", names) is None
    assert table_of_key("other:loans", names) is None


def test_every_key_the_store_writes_maps_to_its_table_or_to_none():
    ver, features, *table_keys = customer_keys(7, ["loans", "communications"])
    assert [table_of_key(k, POLICY.tables) for k in (ver, features)] == [None, None]
    assert [table_of_key(k, POLICY.tables) for k in table_keys] == ["loans"] * 2 + ["communications"] * 2
