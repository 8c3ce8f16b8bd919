"""The hot tier's Redis layout per customer, its one write path (a Lua script) and its one read.

Per customer ``c`` and hot table ``T`` (keys share the hash tag ``{c}``, so they stay on one
Redis Cluster slot): ``tierflow:hot:{c}:T`` hash pk -> row JSON, ``tierflow:hot:{c}:T:idx`` sorted set pk by
time, ``tierflow:hot:{c}:ver`` hash "T:pk" -> applied version, ``tierflow:hot:{c}:features`` hash of figures.
Every write goes through ``APPLY_LUA``: versioned upserts, trimming to the window, TTLs refreshed,
and features moved by exactly what each applied write changed (the stored row's contribution out, the
new row's in, trimmed rows' out). An op whose version was already applied changes nothing, so
replays and redeliveries are no-ops; reconciliation recomputes every feature from the stored entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tierflow.hot.events import Event, epoch_seconds, hot_tables, row_json, utc_now
from tierflow.hot.scripts import lua
from tierflow.log import get_logger
from tierflow.policy import Policy

log = get_logger(__name__)

PREFIX = "tierflow:hot:"
RECONCILE_KEY = "tierflow:hot:reconcile:last"
DEAD_LETTER_SUFFIX = ":dead"
DAY = 86_400


# The apply script (lua/lib.lua, then lua/apply.lua). One call applies the ops of a chunk of
# customers (each customer's keys share one hash tag).
# KEYS: each customer's ``ver`` key; the script derives the customer's other keys from it.
# ARGV[1]: "now|ttl|mode|name=window_s,name=window_s,..." (mode 0: trim only the tables the ops
#          touch, features moved by what changed; 1 (full): trim every table and recompute every
#          feature; 2 (trim): trim every table, features moved by what the trim removed, a customer
#          without features left as it is).
# ARGV[2]: the ops grouped by customer, as one flat MessagePack array (decoded in C by cmsgpack):
#          customer no (KEYS index), table no (0 = none), op, pk, version, ts, row JSON; repeated.
# Few, large arguments on purpose: the client's cost is per argument, not per byte, and Lua's
# string handling is slow next to cmsgpack.
# Returns "applied,skipped,changed keys,features changed,customers changed".
APPLY_LUA = lua("lib.lua") + lua("apply.lua")

# The read script (lua/lib.lua, then lua/read.lua).
# KEYS: the customer's ver, features, then (rows hash, idx zset) per hot table. ARGV[1]: APPLY's
# head with full=1; ARGV[1 + n]: the oldest time still inside hot table n's window; the last ARGV:
# '1' on a read-only replica. Only entries inside their window are returned. When some entry has
# aged out since the customer's last write (a quiet customer), its row still counts in the stored
# features: the customer is first trimmed and its features recomputed, as reconciliation would, in
# the same call; a replica cannot write, so there the features of exactly the returned rows are
# computed and nothing is stored. Returns {features as a flat list, then per table its rows newest
# first, then how many aged entries were seen}. A script rather than a pipeline: one command to send
# and parse instead of eleven, which is most of a lookup's client time.
READ_LUA = lua("lib.lua") + lua("read.lua")

# Customers per script call: bounds how long one call holds Redis (lookups wait behind it).
CUSTOMERS_PER_CALL = 64


def customer_keys(customer_id: int | str, tables: Iterable[str]) -> list[str]:
    base = f"{PREFIX}{{{customer_id}}}:"
    keys = [base + "ver", base + "features"]
    for name in tables:
        keys.extend((base + name, base + name + ":idx"))
    return keys


class HotStore:
    """The hot tier on one Redis: apply events, read a customer's view, budget and trim memory."""

    def __init__(self, client: Any, policy: Policy, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.client = client
        self.policy = policy
        self.clock = clock
        self.tables = hot_tables(policy)
        self.table_names = [t.name for t in self.tables]
        self._table_no = {name: i + 1 for i, name in enumerate(self.table_names)}
        self._spec = ",".join(f"{t.name}={t.hot_days * DAY}" for t in self.tables)
        self.ttl_seconds = (max(t.hot_days for t in self.tables) + 1) * DAY
        self._sha: str | None = None
        self._read_script: Any = None
        self._replica = False  # learnt on the first read refused as a write on a read-only replica

    # writes -------------------------------------------------------------------------------------

    def _head(self, full: bool, trim: bool = False) -> str:
        mode = 1 if full else 2 if trim else 0
        return f"{epoch_seconds(self.clock()):.6f}|{self.ttl_seconds}|{mode}|{self._spec}"

    def queue_customers(self, pipe: Any, plans: list[tuple[int, list[tuple]]], *, full: bool = False) -> int:
        """Queue APPLY calls on ``pipe`` for (customer, ops) plans, ops as (table, op, pk, version, ts,
        row JSON), CUSTOMERS_PER_CALL customers per call. ``full`` trims every table and recomputes
        every feature, not only those of the tables the ops touch. Returns calls queued."""
        table_no = self._table_no
        # numbers as text: Lua would print a 16-digit version with 14 significant digits
        packed = [
            (
                customer_id,
                [
                    (table_no[table], op, str(pk), str(version), f"{ts:.6f}", row)
                    for table, op, pk, version, ts, row in ops
                ],
            )
            for customer_id, ops in plans
        ]
        return self.queue_packed(pipe, packed, full=full)

    def _queue_plan(self, plan: tuple[int, list[tuple]]) -> Callable[[Any], int]:
        """A ``run`` body that queues one customer's ops (a customer retried alone)."""
        return lambda pipe: self.queue_packed(pipe, [plan])

    def queue_packed(
        self, pipe: Any, plans: list[tuple[int, list[tuple]]], *, full: bool = False, trim: bool = False
    ) -> int:
        """``queue_customers`` for ops already in the script's form: (table no, op, pk, version, ts,
        row JSON), every one but the table no as text (the consumer's fast path builds these).
        ``trim`` (no ops): trim every table of the customers, features moved by what left."""
        import msgpack

        sha, head, calls = self.script_sha(), self._head(full, trim), 0
        for start in range(0, len(plans), CUSTOMERS_PER_CALL):
            keys: list[str] = []
            flat: list[Any] = []
            for no, (customer_id, ops) in enumerate(plans[start : start + CUSTOMERS_PER_CALL], 1):
                keys.append(f"{PREFIX}{{{customer_id}}}:ver")
                if not ops:
                    flat.extend((no, 0, "", "", "", "", ""))
                for op in ops:
                    flat.append(no)
                    flat.extend(op)
            # use_bin_type=False: row bytes go as MessagePack raw strings, which cmsgpack reads
            pipe.evalsha(sha, len(keys), *keys, head, msgpack.packb(flat, use_bin_type=False))
            calls += 1
        return calls

    def queue_trim(self, pipe: Any, customer_ids: Iterable[int]) -> int:
        """Queue a trim of every table of these customers: entries that aged out of their window
        leave, and their contribution leaves the features. Returns calls queued."""
        return self.queue_packed(pipe, [(cid, []) for cid in customer_ids], trim=True)

    def table_numbers(self) -> dict[str, int]:
        """The apply script's number for each hot table."""
        return dict(self._table_no)

    def table_number(self, table: str) -> int:
        return self._table_no[table]

    def queue_customer(self, pipe: Any, customer_id: int, ops: list[tuple], *, full: bool = False) -> None:
        self.queue_customers(pipe, [(customer_id, ops)], full=full)

    def script_sha(self) -> str:
        if self._sha is None:
            self._sha = self.client.script_load(APPLY_LUA)
        return self._sha

    def queue_events(self, pipe: Any, events: Iterable[Event]) -> int:
        """Queue the events grouped by customer (one Lua call each); returns calls queued."""
        by_customer: dict[int, list[tuple]] = {}
        for e in events:
            row = row_json(e.row)
            by_customer.setdefault(e.customer_id, []).append((e.table, e.op, e.pk, e.version, e.ts, row))
        return self.queue_customers(pipe, list(by_customer.items()))

    def run(self, build: Callable[[Any], Any], *, raise_on_error: bool = True) -> list[Any]:
        """Build a pipeline of APPLY calls with ``build(pipe)`` and send it in one round trip.

        Redis restarted (or SCRIPT FLUSH) forgets the script: load it again and resend. Resending
        is safe because every APPLY is idempotent. Without ``raise_on_error`` a failed call's
        error is in its place in the results.
        """
        from redis.exceptions import NoScriptError

        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            build(pipe)
            results = pipe.execute(raise_on_error=False)
            errors = [r for r in results if isinstance(r, Exception)]
            if not errors:
                return results
            if attempt == 0 and all(isinstance(r, NoScriptError) for r in errors):
                self._sha = None
                continue
            if raise_on_error:
                raise errors[0]
            return results
        raise AssertionError("unreachable")

    def apply_plans(self, plans: list[tuple[int, list[tuple]]]) -> tuple[dict[str, int], dict[int, str]]:
        """Apply ``queue_packed`` plans in one round trip. A call that fails is retried one customer
        at a time, so only the customers whose apply fails are left out; returns the summary and
        {customer: reason} for those. Errors of the server rather than of the data (out of memory,
        read-only, loading, busy) are raised: every message of the batch waits for the next try."""
        from redis.exceptions import ResponseError

        results = self.run(lambda pipe: self.queue_packed(pipe, plans), raise_on_error=False)
        done = [r for r in results if not isinstance(r, Exception)]
        failed: dict[int, str] = {}
        for n, error in enumerate(results):
            if not isinstance(error, Exception):
                continue
            if not isinstance(error, ResponseError) or _server_error(error):
                raise error
            for plan in plans[n * CUSTOMERS_PER_CALL : (n + 1) * CUSTOMERS_PER_CALL]:
                try:
                    done.extend(self.run(self._queue_plan(plan)))
                except ResponseError as exc:
                    if _server_error(exc):
                        raise
                    failed[plan[0]] = f"apply failed: {str(exc)[:400]}"
        return summarise(done), failed

    def apply(self, events: Iterable[Event]) -> dict[str, int]:
        """Apply events now (one round trip); returns applied/skipped/changed_keys/features_changed."""
        events = list(events)
        return summarise(self.run(lambda pipe: self.queue_events(pipe, events)))

    # reads --------------------------------------------------------------------------------------

    def get_customer(self, customer_id: int) -> dict[str, Any]:
        """The customer's whole hot view, newest first, read in one round trip (one script call).

        Only rows inside each table's window are returned; a customer holding rows that aged out
        since its last write is trimmed and its features recomputed in the same call (READ_LUA),
        so the features always count exactly the rows returned. On a read replica (a client of an
        ElastiCache reader endpoint) nothing can be trimmed: the features of the returned rows are
        computed without storing them.
        """
        from redis.exceptions import ReadOnlyError

        keys = customer_keys(customer_id, self.table_names)
        now = epoch_seconds(self.clock())
        oldest = [f"{now - t.hot_days * DAY:.6f}" for t in self.tables]
        if self._read_script is None:
            self._read_script = self.client.register_script(READ_LUA)  # reloads itself after SCRIPT FLUSH
        head = self._head(full=True)
        try:
            reply = self._read_script(keys=keys, args=[head, *oldest, "1" if self._replica else "0"])
        except ReadOnlyError:
            # a read replica: it cannot trim, so it answers without writing (nothing was written:
            # the script stopped at its first write)
            self._replica = True
            reply = self._read_script(keys=keys, args=[head, *oldest, "1"])
        flat = reply[0]
        view: dict[str, Any] = {"customer_id": customer_id}
        view["features"] = {_s(flat[i]): _number(_s(flat[i + 1])) for i in range(0, len(flat), 2)}
        for name, rows in zip(self.table_names, reply[1:-1], strict=True):
            view[name] = [json.loads(row) for row in rows if row]
        return view

    # housekeeping -------------------------------------------------------------------------------

    def apply_memory_budget(self) -> bool:
        """Cap Redis at the policy's ``hot.max_memory_mb``, evicting the soonest-expiring hot keys.

        Streams carry no TTL, so ``volatile-ttl`` never evicts unconsumed events. Managed Redis
        (ElastiCache) refuses CONFIG SET: there the parameter group carries the same two settings.
        """
        import redis

        try:
            self.client.config_set("maxmemory", f"{self.policy.hot.max_memory_mb}mb")
            self.client.config_set("maxmemory-policy", "volatile-ttl")
        except redis.ResponseError as exc:
            log.warning("hot_memory_budget_not_set", reason=str(exc))
            return False
        return True

    def memory(self) -> dict[str, int]:
        info = self.client.info("memory")
        return {
            "used_bytes": int(info["used_memory"]),
            "budget_bytes": self.policy.hot.max_memory_mb * 1024 * 1024,
        }

    def customers(self, batch: int = 1_000) -> Iterable[int]:
        """Every customer with a hot-tier entry (SCAN over the version hashes)."""
        for key in self.client.scan_iter(match=f"{PREFIX}{{*}}:ver", count=batch):
            text = _s(key)
            yield int(text[text.index("{") + 1 : text.index("}")])


def summarise(results: Iterable[Any]) -> dict[str, int]:
    total = {"applied": 0, "skipped": 0, "changed_keys": 0, "features_changed": 0, "customers_changed": 0}
    for r in results:
        if isinstance(r, bytes | str):
            text = r.decode() if isinstance(r, bytes) else r
            for key, value in zip(total, text.split(","), strict=True):
                total[key] += int(value)
    return total


_SERVER_ERRORS = ("OOM", "READONLY", "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT")


def _server_error(error: Exception) -> bool:
    """An error of the server's state, not of one customer's data: retrying later may succeed."""
    return str(error).startswith(_SERVER_ERRORS)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
