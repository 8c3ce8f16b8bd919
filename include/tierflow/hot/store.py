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
from datetime import UTC, datetime
from typing import Any

from tierflow.events import Event, epoch_seconds, hot_tables, row_json, utc_now
from tierflow.log import get_logger
from tierflow.policy import Policy

log = get_logger(__name__)

PREFIX = "tierflow:hot:"
RECONCILE_KEY = "tierflow:hot:reconcile:last"
DEAD_LETTER_SUFFIX = ":dead"
DAY = 86_400

# One call applies the ops of a chunk of customers (each customer's keys share one hash tag).
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
APPLY_LUA = r"""
local now, ttl, mode, spec = string.match(ARGV[1], '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
now = tonumber(now); ttl = tonumber(ttl)
local full_all, trim_all, trim_only = mode == '1', mode ~= '0', mode == '2'
-- per-table constants, built once per call (Lua string building is the slow part of this script)
local names, windows, index_of, idx_suffix, day_suffix = {}, {}, {}, {}, {}
for name, window in string.gmatch(spec, '([%w_]+)=(%d+)') do
  local i = #names + 1
  names[i] = name; windows[i] = tonumber(window); index_of[name] = i
  idx_suffix[i] = name .. ':idx'
  day_suffix[i] = tostring(math.floor(windows[i] / 86400)) .. 'd'
end
local applied, skipped, changed_keys, features_changed, customers_changed = 0, 0, 0, 0, 0
-- Stored rows are compact JSON written by the consumer (json.dumps, separators ",", ":"), so a
-- field is found by pattern; inside a JSON string a quote is escaped, so '"key":"' cannot match
-- there. Much cheaper than cjson.decode, which builds a table per row.
local function field(raw, key) return string.match(raw, '"' .. key .. '":"([^"]*)"') end
local function number(raw, key) return string.match(raw, '"' .. key .. '":"?(%-?[%d%.]+)') end
-- money in whole paise, so sums are exact
local function paise(text) return math.floor((tonumber(text) or 0) * 100 + 0.5) end

-- What one stored row adds to its customer's features, times ``sign`` (+1 stored, -1 removed).
-- Bounced communications are a distinct count over two tables: a row that is or was a bounce only
-- marks them for a recount.
local function contribute(c, tname, days, raw, sign)
  if not raw then return end
  local d = c.delta
  if tname == 'loan_transactions' then
    local status = field(raw, 'status')
    if status == 'success' then
      local kind = field(raw, 'txn_type')
      if kind == 'emi_payment' or kind == 'prepayment' then
        local k = 'amount_paid_' .. days
        d[k] = (d[k] or 0) + sign * paise(number(raw, 'amount'))
      end
    elseif status == 'failed' then
      local k = 'failed_payments_' .. days
      d[k] = (d[k] or 0) + sign
    end
  elseif tname == 'user_device_apps' then
    local k = 'apps_' .. tostring(field(raw, 'category')) .. '_' .. days
    d[k] = (d[k] or 0) + sign
    k = 'apps_total_' .. days
    d[k] = (d[k] or 0) + sign
  elseif tname == 'loans' then
    local status = field(raw, 'status')
    if status == 'approved' or status == 'disbursed' then
      local k = 'open_loans_' .. days
      d[k] = (d[k] or 0) + sign
    end
  elseif tname == 'communications' then
    if field(raw, 'status') == 'bounced' then c.recount_bounces = true end
  elseif tname == 'communication_events' then
    if field(raw, 'event_type') == 'bounced' then c.recount_bounces = true end
  end
end

-- A customer's features are kept current by adding what each applied op changes (the old stored
-- row out, the new one in) to the stored figures. ``full`` (reconciliation, or no features yet)
-- recomputes them from every stored entry instead.
local function open_customer(ver)
  local base = string.sub(ver, 1, -4)
  local c = {ver = ver, base = base, feat = base .. 'features', tables = {}, delta = {},
             recount_bounces = false}
  local flat = redis.call('HGETALL', c.feat)
  local old = {}
  for i = 1, #flat, 2 do old[flat[i]] = flat[i + 1] end
  -- a trim pass leaves a customer without features to the repair that follows it
  c.old, c.had_features, c.skip_features = old, #flat > 0, trim_only and #flat == 0
  c.full = full_all or (#flat == 0 and not trim_only)
  return c
end
-- a customer's table, its key names built only when first needed
local function tbl(c, i)
  local t = c.tables[i]
  if not t then
    t = {name = names[i], window = windows[i], days = day_suffix[i], rows = c.base .. names[i],
         idx = c.base .. idx_suffix[i], changed = false, touched = false, filled = false}
    c.tables[i] = t
  end
  return t
end

-- the stored row's contribution leaves the features (incremental mode only)
local function remove_stored(c, t, pk)
  if not c.full then contribute(c, t.name, t.days, redis.call('HGET', t.rows, pk), -1) end
end

local function apply_op(c, tno, op, pk, vtext, ts, row)
  local v = tonumber(vtext)
  local t = tbl(c, tno)
  t.touched = true
  local vfield = t.name .. ':' .. pk
  local cur = tonumber(redis.call('HGET', c.ver, vfield) or '-1')
  if op == 'evict' then
    -- reconciliation removing an entry MySQL no longer has; a newer write wins. Dropping only
    -- the version of a row deleted long ago is housekeeping, not a change.
    if cur >= 0 and cur <= v then
      remove_stored(c, t, pk)
      local gone = redis.call('HDEL', t.rows, pk) + redis.call('ZREM', t.idx, pk)
      redis.call('HDEL', c.ver, vfield)
      if gone > 0 then t.changed = true end
      applied = applied + 1
    else
      skipped = skipped + 1
    end
  elseif cur >= v then
    skipped = skipped + 1
  elseif op == 'delete' then
    remove_stored(c, t, pk)
    redis.call('HDEL', t.rows, pk); redis.call('ZREM', t.idx, pk); redis.call('HSET', c.ver, vfield, vtext)
    t.changed = true; applied = applied + 1
  elseif tonumber(ts) < now - t.window then
    skipped = skipped + 1
  else
    remove_stored(c, t, pk)
    if not c.full then contribute(c, t.name, t.days, row, 1) end
    redis.call('HSET', t.rows, pk, row); redis.call('ZADD', t.idx, ts, pk)
    redis.call('HSET', c.ver, vfield, vtext)
    t.changed = true; t.filled = true; applied = applied + 1
  end
end

-- Features recounted from rows: ``rows_of(i)`` gives hot table i's row JSONs (false entries, an
-- index entry whose row is gone, are skipped). Bounced communications are a distinct count over
-- two tables.
local function bounces(rows_of)
  local comms_i, events_i = index_of['communications'], index_of['communication_events']
  local bounced, n = {}, 0
  if comms_i then
    for _, raw in ipairs(rows_of(comms_i)) do
      if raw and field(raw, 'status') == 'bounced' then bounced[number(raw, 'id')] = true end
    end
  end
  if events_i then
    for _, raw in ipairs(rows_of(events_i)) do
      if raw and field(raw, 'event_type') == 'bounced' then bounced[number(raw, 'communication_id')] = true end
    end
  end
  for _ in pairs(bounced) do n = n + 1 end
  return 'bounced_communications_' .. day_suffix[comms_i or events_i], tostring(n)
end

local function recount(rows_of)
  local f = {}
  local i = index_of['loan_transactions']
  if i then
    local paid, failed = 0, 0
    for _, raw in ipairs(rows_of(i)) do
      if raw then
        local status, kind = field(raw, 'status'), field(raw, 'txn_type')
        if status == 'success' and (kind == 'emi_payment' or kind == 'prepayment') then
          paid = paid + paise(number(raw, 'amount'))
        elseif status == 'failed' then
          failed = failed + 1
        end
      end
    end
    f['amount_paid_' .. day_suffix[i]] = string.format('%.2f', paid / 100)
    f['failed_payments_' .. day_suffix[i]] = tostring(failed)
  end
  i = index_of['user_device_apps']
  if i then
    local counts, total = {}, 0
    for _, raw in ipairs(rows_of(i)) do
      if raw then
        local k = 'apps_' .. tostring(field(raw, 'category')) .. '_' .. day_suffix[i]
        counts[k] = (counts[k] or 0) + 1
        total = total + 1
      end
    end
    for k, n in pairs(counts) do f[k] = tostring(n) end
    f['apps_total_' .. day_suffix[i]] = tostring(total)
  end
  i = index_of['loans']
  if i then
    local open = 0
    for _, raw in ipairs(rows_of(i)) do
      if raw then
        local status = field(raw, 'status')
        if status == 'approved' or status == 'disbursed' then open = open + 1 end
      end
    end
    f['open_loans_' .. day_suffix[i]] = tostring(open)
  end
  if index_of['communications'] or index_of['communication_events'] then
    local k, n = bounces(rows_of)
    f[k] = n
  end
  return f
end

-- every stored row of a customer's table
local function stored_rows(c)
  return function(i) return redis.call('HVALS', tbl(c, i).rows) end
end

-- The customer's features after this call's ops and trims: every feature from every stored entry
-- (full), else the stored figures plus what the ops and trims changed.
local function features_now(c)
  if c.full then return recount(stored_rows(c)) end
  local f = {}
  for k, val in pairs(c.old) do f[k] = val end
  for k, d in pairs(c.delta) do
    if d ~= 0 then
      if string.sub(k, 1, 12) == 'amount_paid_' then
        f[k] = string.format('%.2f', (paise(f[k]) + d) / 100)
      else
        local n = (tonumber(f[k]) or 0) + d
        if n == 0 and string.sub(k, 1, 5) == 'apps_' and string.sub(k, 1, 11) ~= 'apps_total_' then
          f[k] = nil  -- a category with no app left is absent, as a recount leaves it
        else
          f[k] = tostring(n)
        end
      end
    end
  end
  if c.recount_bounces then
    local k, n = bounces(stored_rows(c))
    f[k] = n
  end
  return f
end

-- Write what differs between ``f`` and the stored features (all of them go when the customer has
-- no entry left); 1 when the features hash changed.
local function store_features(c, f, any)
  if not any then
    if c.had_features then redis.call('DEL', c.feat); return 1 end
    return 0
  end
  local set, gone = {}, {}
  for k, val in pairs(f) do
    if c.old[k] ~= val then set[#set + 1] = k; set[#set + 1] = val end
  end
  for k in pairs(c.old) do
    if f[k] == nil then gone[#gone + 1] = k end
  end
  if #set > 0 then redis.call('HSET', c.feat, unpack(set)) end
  if #gone > 0 then redis.call('HDEL', c.feat, unpack(gone)) end
  if #set > 0 or #gone > 0 then return 1 end
  return 0
end

local function close_customer(c)
  -- trim entries that left their window (every table when full, else the touched ones)
  for i = 1, #names do
    local t = c.tables[i]
    if trim_all or (t and t.touched) then
      t = tbl(c, i)
      local old = redis.call('ZRANGEBYSCORE', t.idx, '-inf', '(' .. (now - t.window))
      for s = 1, #old, 1000 do
        local part = {}
        for j = s, math.min(s + 999, #old) do
          part[#part + 1] = old[j]
          redis.call('HDEL', c.ver, t.name .. ':' .. old[j])
        end
        if not c.full then
          local gone = redis.call('HMGET', t.rows, unpack(part))
          for j = 1, #part do contribute(c, t.name, t.days, gone[j], -1) end
        end
        redis.call('HDEL', t.rows, unpack(part)); redis.call('ZREM', t.idx, unpack(part))
        t.changed = true
      end
    end
  end
  -- an entry written just now is inside its window, so it survived the trim: no need to look
  local any = false
  for _, t in pairs(c.tables) do if t.filled then any = true end end
  if not any then
    local idx_keys = {}
    for i = 1, #names do idx_keys[i] = tbl(c, i).idx end
    any = redis.call('EXISTS', unpack(idx_keys)) > 0
  end
  local feat_changed = 0
  if not c.skip_features then feat_changed = store_features(c, features_now(c), any) end
  -- TTLs: a key lives one day longer than the longest window after its last write
  local changed = 0
  for _, tb in pairs(c.tables) do
    if tb.changed then
      changed = changed + 1
      redis.call('EXPIRE', tb.rows, ttl); redis.call('EXPIRE', tb.idx, ttl)
    end
  end
  if any and (changed > 0 or feat_changed > 0) then
    redis.call('EXPIRE', c.ver, ttl); redis.call('EXPIRE', c.feat, ttl)
  end
  changed_keys = changed_keys + changed
  features_changed = features_changed + feat_changed
  if changed > 0 or feat_changed > 0 then customers_changed = customers_changed + 1 end
end

local ops = cmsgpack.unpack(ARGV[2])
local current, current_no = nil, nil
for i = 1, #ops, 7 do
  local no = ops[i]
  if no ~= current_no then
    if current then close_customer(current) end
    current, current_no = open_customer(KEYS[no]), no
  end
  local tno = ops[i + 1]
  if tno > 0 then
    apply_op(current, tno, ops[i + 2], ops[i + 3], ops[i + 4], ops[i + 5], ops[i + 6])
  end
end
if current then close_customer(current) end
return applied .. ',' .. skipped .. ',' .. changed_keys .. ',' .. features_changed .. ',' .. customers_changed
"""

# The read script: APPLY's functions (everything before its main loop), then the read.
# KEYS: the customer's ver, features, then (rows hash, idx zset) per hot table. ARGV[1]: APPLY's
# head with full=1; ARGV[1 + n]: the oldest time still inside hot table n's window; the last ARGV:
# '1' on a read-only replica. Only entries inside their window are returned. When some entry has
# aged out since the customer's last write (a quiet customer), its row still counts in the stored
# features: the customer is first trimmed and its features recomputed, as reconciliation would, in
# the same call; a replica cannot write, so there the features of exactly the returned rows are
# computed and nothing is stored. Returns {features as a flat list, then per table its rows newest
# first, then how many aged entries were seen}. A script rather than a pipeline: one command to send
# and parse instead of eleven, which is most of a lookup's client time.
READ_LUA = (
    APPLY_LUA[: APPLY_LUA.index("local ops = cmsgpack.unpack(ARGV[2])")]
    + r"""
local ntables = (#KEYS - 2) / 2
local readonly = ARGV[2 + ntables] == '1'
local aged = 0
for i = 3, #KEYS, 2 do
  aged = aged + redis.call('ZCOUNT', KEYS[i + 1], '-inf', '(' .. ARGV[(i + 1) / 2])
end
if aged > 0 and not readonly then close_customer(open_customer(KEYS[1])) end
local rows = {}
for i = 3, #KEYS, 2 do
  local order = redis.call('ZREVRANGEBYSCORE', KEYS[i + 1], '+inf', ARGV[(i + 1) / 2])
  if #order > 0 then
    rows[#rows + 1] = redis.call('HMGET', KEYS[i], unpack(order))
  else
    rows[#rows + 1] = {}
  end
end
local features
if aged > 0 and readonly then
  features = {}
  local any = false
  for n = 1, ntables do if #rows[n] > 0 then any = true end end
  if any then
    for k, v in pairs(recount(function(n) return rows[n] end)) do
      features[#features + 1] = k; features[#features + 1] = v
    end
  end
else
  features = redis.call('HGETALL', KEYS[2])
end
local out = {features}
for n = 1, ntables do out[#out + 1] = rows[n] end
out[#out + 1] = aged
return out
"""
)

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
        self._spec = ",".join(f"{t.name}={t.hot_window_days * DAY}" for t in self.tables)
        self.ttl_seconds = (max(t.hot_window_days for t in self.tables) + 1) * DAY
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
            row = e.row_text or row_json(e.row)
            by_customer.setdefault(e.customer_id, []).append((e.table, e.op, e.pk, e.version, e.ts, row))
        return self.queue_customers(pipe, list(by_customer.items()))

    def run(self, build: Callable[[Any], Any]) -> list[Any]:
        """Build a pipeline of APPLY calls with ``build(pipe)`` and send it in one round trip.

        Redis restarted (or SCRIPT FLUSH) forgets the script: load it again and resend. Resending
        is safe because every APPLY is idempotent.
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
            raise errors[0]
        raise AssertionError("unreachable")

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
        oldest = [f"{now - t.hot_window_days * DAY:.6f}" for t in self.tables]
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

    def table_stats(self) -> dict[str, dict[str, Any]]:
        """Per hot table: customers (keys), entries, bytes, oldest and newest entry time (UTC)."""
        stats = {
            n: {"keys": 0, "entries": 0, "bytes": 0, "oldest": None, "newest": None} for n in self.table_names
        }
        ids = list(self.customers())
        for start in range(0, len(ids), 500):
            pipe = self.client.pipeline(transaction=False)
            for cid in ids[start : start + 500]:
                for name in self.table_names:
                    base = f"{PREFIX}{{{cid}}}:{name}"
                    pipe.zcard(base + ":idx")
                    pipe.zrange(base + ":idx", 0, 0, withscores=True)
                    pipe.zrange(base + ":idx", -1, -1, withscores=True)
                    pipe.memory_usage(base)
            reply = iter(pipe.execute())
            for _cid in ids[start : start + 500]:
                for name in self.table_names:
                    card, first, last, size = next(reply), next(reply), next(reply), next(reply)
                    s = stats[name]
                    if card:
                        s["keys"] += 1
                        s["entries"] += card
                        s["bytes"] += int(size or 0)
                        lo, hi = first[0][1], last[0][1]
                        s["oldest"] = lo if s["oldest"] is None else min(s["oldest"], lo)
                        s["newest"] = hi if s["newest"] is None else max(s["newest"], hi)
        for s in stats.values():
            for k in ("oldest", "newest"):
                if s[k] is not None:
                    s[k] = datetime.fromtimestamp(s[k], UTC).replace(tzinfo=None).isoformat()
        return stats

    def last_reconcile(self) -> dict[str, Any] | None:
        raw = self.client.get(RECONCILE_KEY)
        return json.loads(raw) if raw else None


def summarise(results: Iterable[Any]) -> dict[str, int]:
    total = {"applied": 0, "skipped": 0, "changed_keys": 0, "features_changed": 0, "customers_changed": 0}
    for r in results:
        if isinstance(r, bytes | str):
            text = r.decode() if isinstance(r, bytes) else r
            for key, value in zip(total, text.split(","), strict=True):
                total[key] += int(value)
    return total


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
