"""The foreign-key graph of the source schema: which archived tables are children of which, the
order that archives children before parents, and the waves of tables that can run side by side.
"""

from __future__ import annotations

from tierflow.policy import Policy, TablePolicy


def archived_children(tables: list[TablePolicy], fks: list[tuple[str, str, str, str]]) -> dict[str, set[str]]:
    """For each of ``tables``, the names of its child tables among them (foreign keys)."""
    chosen = {t.name for t in tables}
    return {t.name: {c for c, _, p, _ in fks if p == t.name and c != p and c in chosen} for t in tables}


def ordered_tables(
    policy: Policy, names: list[str] | None, fks: list[tuple[str, str, str, str]]
) -> list[TablePolicy]:
    """Archived tables, children before parents (from MySQL's foreign keys), else policy order."""
    selected = [t for t in policy.select(names) if t.archive.enabled]
    children = archived_children(selected, fks)
    ordered: list[TablePolicy] = []
    pending = list(selected)
    while pending:
        done = {t.name for t in ordered}
        ready = [t for t in pending if children[t.name] <= done]
        if not ready:  # a cycle: fall back to policy order for what is left
            ready = pending[:1]
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def fk_waves(
    policy: Policy, names: list[str] | None, fks: list[tuple[str, str, str, str]], waves: int
) -> list[list[str]]:
    """Archived tables in ``waves`` groups by foreign-key depth: tables without archived children
    first, then their parents, and so on; a table deeper than the last wave joins it. Tables of
    one wave are independent of each other, so a wave may run them in any order."""
    ordered = ordered_tables(policy, names, fks)
    children = archived_children(ordered, fks)
    depth: dict[str, int] = {}
    for t in ordered:  # children come first, so their depth is known
        depth[t.name] = 1 + max((depth.get(k, 0) for k in children[t.name]), default=-1)
    out: list[list[str]] = [[] for _ in range(waves)]
    for t in ordered:
        out[min(depth[t.name], waves - 1)].append(t.name)
    return out
