"""The build lease: one row in the warehouse naming who builds an audit slot, held from the choice
of the slot until its publish, across processes (the DAG's tasks, a CLI build).

``publish``'s advisory lock covers one process at a time; the Airflow path chooses the slot in one
task, runs dbt in others and publishes in a last one, so the lease is what stops a CLI build from
rebuilding the slot a DAG run is building (and the reverse). It carries its owner and an expiry on
the warehouse's clock; a lease past its expiry is free to take, and its owner finds out on
``confirm``. The same rows, in ``raw._tierflow_load_leases``, are the Redshift load's per-table lock.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.warehouse import RAW_SCHEMA
from tierflow.warehouse.columns import quote
from tierflow.warehouse.sql import qualified

log = get_logger("tierflow.warehouse.lease")

LEASE_TABLE = "_tierflow_build_lease"
LEASE_NAME = "build"
DEFAULT_TTL = timedelta(hours=6)
# The Redshift load's per-table lease (PostgreSQL loads hold an advisory lock instead): a table of
# the loader's own, one row per table being loaded, extended while the load works.
LOAD_LEASE_TABLE = "_tierflow_load_leases"
LOAD_LEASE_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class Lease:
    owner: str
    slot: str | None
    acquired_at: datetime
    expires_at: datetime


class LeaseHeldError(TierflowError):
    """Another owner holds the lease, unexpired (``held``)."""

    def __init__(self, held: Lease) -> None:
        super().__init__(f"leased to {held.owner} until {held.expires_at:%Y-%m-%d %H:%M:%S} UTC")
        self.held = held


class BuildSlotLeasedError(TierflowError):
    """Another builder holds the build lease."""


class LeaseLostError(TierflowError):
    """The lease this builder took is now someone else's: it must not publish."""


def cli_owner() -> str:
    return f"cli:{socket.gethostname()}:{os.getpid()}"


def lease_ddl(table: str = LEASE_TABLE) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(RAW_SCHEMA, table)} (\n"
        "  name varchar(64) NOT NULL,\n"
        "  owner varchar(256) NOT NULL,\n"
        "  slot varchar(128),\n"
        "  acquired_at timestamp NOT NULL,\n"
        "  expires_at timestamp NOT NULL\n"
        ")"
    )


def _locked(
    conn, url: str, table: str = LEASE_TABLE, name: str = LEASE_NAME
) -> tuple[Lease | None, datetime]:
    """The current lease row and the warehouse's now, with the lease table locked until the
    caller's transaction ends (LOCK: PostgreSQL and Redshift alike)."""
    from tierflow.stores import warehouse

    target = qualified(RAW_SCHEMA, table)
    conn.execute(f"LOCK {target}")
    row = conn.execute(
        f"SELECT owner, slot, acquired_at, expires_at FROM {target} WHERE name = %s",  # noqa: S608
        (name,),
    ).fetchone()
    return (Lease(*row) if row else None), warehouse.server_now(conn, url)


def _ensure_table(settings: Settings, table: str = LEASE_TABLE) -> None:
    from tierflow.stores import warehouse

    warehouse.ensure_database(settings.warehouse_url)
    with warehouse.connection(settings.warehouse_url, aws=settings, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(RAW_SCHEMA)}")
        conn.execute(lease_ddl(table))


def take(
    settings: Settings, owner: str, *, table: str = LEASE_TABLE, name: str = LEASE_NAME, ttl: timedelta
) -> Lease:
    """Take the lease ``name`` of ``table`` for ``owner`` (again, if it is already ``owner``'s);
    LeaseHeldError while another owner holds it unexpired."""
    from tierflow.stores import warehouse

    _ensure_table(settings, table)
    target = qualified(RAW_SCHEMA, table)
    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        held, now = _locked(conn, settings.warehouse_url, table, name)
        if held and held.owner != owner and held.expires_at > now:
            conn.rollback()
            raise LeaseHeldError(held)
        if held and held.owner != owner:
            log.warning("warehouse.lease.expired_taken", lease=name, previous=held.owner, owner=owner)
        lease = Lease(owner, held.slot if held and held.owner == owner else None, now, now + ttl)
        conn.execute(f"DELETE FROM {target} WHERE name = %s", (name,))  # noqa: S608
        conn.execute(
            f"INSERT INTO {target} (name, owner, slot, acquired_at, expires_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s)",
            (name, lease.owner, lease.slot, lease.acquired_at, lease.expires_at),
        )
        conn.commit()
    return lease


def acquire(settings: Settings, owner: str, *, ttl: timedelta = DEFAULT_TTL) -> Lease:
    """Take the build lease for ``owner`` (again, if it is already ``owner``'s), or raise
    BuildSlotLeasedError naming who holds it, the slot and until when."""
    try:
        lease = take(settings, owner, ttl=ttl)
    except LeaseHeldError as exc:
        held = exc.held
        raise BuildSlotLeasedError(
            f"the warehouse build is leased to {held.owner} (slot {held.slot or 'not chosen yet'}, "
            f"since {held.acquired_at:%Y-%m-%d %H:%M:%S} UTC, until {held.expires_at:%Y-%m-%d %H:%M:%S} "
            "UTC): a build is running; wait for it to publish, or, if that builder is gone, "
            f"delete the row of {RAW_SCHEMA}.{LEASE_TABLE}"
        ) from None
    log.info("warehouse.lease.acquired", owner=owner, expires_at=lease.expires_at.isoformat())
    return lease


def extend(conn, url: str, owner: str, *, table: str, name: str, ttl: timedelta) -> None:
    """Push the expiry of ``owner``'s lease ``name`` to the warehouse's now + ``ttl``, on the
    caller's (autocommit) connection: a holder that keeps working keeps its lease."""
    from tierflow.stores import warehouse

    expires = warehouse.server_now(conn, url) + ttl
    conn.execute(
        f"UPDATE {qualified(RAW_SCHEMA, table)} SET expires_at = %s WHERE name = %s AND owner = %s",  # noqa: S608
        (expires, name, owner),
    )


def confirm(
    settings: Settings, owner: str, *, slot: str | None = None, ttl: timedelta = DEFAULT_TTL
) -> Lease:
    """Check that ``owner`` still holds the lease (for ``slot``, recorded on the first call that
    names it) and extend it by ``ttl``; LeaseLostError when another builder holds it now."""
    from tierflow.stores import warehouse

    _ensure_table(settings)
    table = qualified(RAW_SCHEMA, LEASE_TABLE)
    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        held, now = _locked(conn, settings.warehouse_url)
        if held is None or held.owner != owner:
            conn.rollback()
            raise LeaseLostError(
                f"the warehouse build lease of {owner} is gone"
                + (f" (now {held.owner}'s)" if held else "")
                + "; its slot may have been rebuilt since, so nothing is published: run the build again"
            )
        if slot and held.slot and held.slot != slot:
            conn.rollback()
            raise LeaseLostError(f"the lease of {owner} is for slot {held.slot}, not {slot}")
        lease = Lease(owner, slot or held.slot, held.acquired_at, now + ttl)
        conn.execute(
            f"UPDATE {table} SET slot = %s, expires_at = %s WHERE name = %s AND owner = %s",  # noqa: S608 - quoted names, bound values
            (lease.slot, lease.expires_at, LEASE_NAME, owner),
        )
        conn.commit()
    return lease


def release(settings: Settings, owner: str, *, table: str = LEASE_TABLE, name: str = LEASE_NAME) -> bool:
    """Give the lease up if ``owner`` holds it; True when it did."""
    from tierflow.stores import warehouse

    _ensure_table(settings, table)
    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        cur = conn.execute(
            f"DELETE FROM {qualified(RAW_SCHEMA, table)} WHERE name = %s AND owner = %s",  # noqa: S608
            (name, owner),
        )
        conn.commit()
    released = bool(cur.rowcount)
    log.info("warehouse.lease.released", lease=name, owner=owner, released=released)
    return released
