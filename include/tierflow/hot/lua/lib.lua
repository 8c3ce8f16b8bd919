-- The hot tier's shared Lua: per-table constants, feature contributions, trims and recounts.
-- Loaded before apply.lua or read.lua (see tierflow.hot.store).
local now, ttl, mode, spec = string.match(ARGV[1], '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
now = tonumber(now); ttl = tonumber(ttl)
local full_all, trim_all, trim_only = mode == '1', mode ~= '0', mode == '2'
-- per-table constants, built once per call (Lua string building is the slow part of this script)
local names, windows, index_of, idx_suffix, day_suffix, stamp_of = {}, {}, {}, {}, {}, {}
for name, window in string.gmatch(spec, '([%w_]+)=(%d+)') do
  local i = #names + 1
  names[i] = name; windows[i] = tonumber(window); index_of[name] = i
  idx_suffix[i] = name .. ':idx'
  stamp_of[i] = '~ttl.' .. name
  day_suffix[i] = tostring(math.floor(windows[i] / 86400)) .. 'd'
end
local applied, skipped, changed_keys, features_changed, customers_changed = 0, 0, 0, 0, 0
-- Stored rows are compact JSON written by the consumer (json.dumps, separators ",", ":"), so a
-- field is found by pattern; inside a JSON string a quote is escaped, so '"key":"' cannot match
-- there. Much cheaper than cjson.decode, which builds a table per row.
local text_patterns, number_patterns = {}, {}
local function field(raw, key)
  local p = text_patterns[key]
  if not p then p = '"' .. key .. '":"([^"]*)"'; text_patterns[key] = p end
  return string.match(raw, p)
end
local function number(raw, key)
  local p = number_patterns[key]
  if not p then p = '"' .. key .. '":"?(%-?[%d%.]+)'; number_patterns[key] = p end
  return string.match(raw, p)
end
-- TTLs are refreshed at most once a day per key: the ver hash records the day ('~ttl' for itself
-- and the features, '~ttl.T' for table T's keys). '~' starts no table name, so no "T:pk" clashes.
local today = tostring(math.floor(now / 86400))
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
-- row out, the new one in) to the stored figures. ``full`` (reconciliation, or features lost while
-- entries remain) recomputes them from every stored entry instead. A customer with no entry at all
-- yet starts from the features of no rows: one EXISTS, not a read of every table.
local function open_customer(ver)
  local base = string.sub(ver, 1, -4)
  local c = {ver = ver, base = base, feat = base .. 'features', tables = {}, delta = {},
             recount_bounces = false, new = false}
  local flat = redis.call('HGETALL', c.feat)
  local old = {}
  for i = 1, #flat, 2 do old[flat[i]] = flat[i + 1] end
  -- a trim pass leaves a customer without features to the repair that follows it
  c.old, c.had_features, c.skip_features = old, #flat > 0, trim_only and #flat == 0
  c.full = full_all or (#flat == 0 and not trim_only)
  if c.full and not full_all then
    local keys = {}
    for i = 1, #names do keys[#keys + 1] = base .. names[i]; keys[#keys + 1] = base .. idx_suffix[i] end
    if redis.call('EXISTS', unpack(keys)) == 0 then c.full, c.new = false, true end
  end
  return c
end
-- a customer's table, its key names built only when first needed
local function tbl(c, i)
  local t = c.tables[i]
  if not t then
    t = {name = names[i], window = windows[i], days = day_suffix[i], rows = c.base .. names[i],
         idx = c.base .. idx_suffix[i], changed = false, touched = false, filled = false,
         removed = false, stamp_field = stamp_of[i]}
    c.tables[i] = t
  end
  return t
end

-- the stored row's contribution leaves the features (incremental mode only). No version recorded
-- means no row stored: nothing to read.
local function remove_stored(c, t, pk, cur)
  if cur >= 0 and not c.full then contribute(c, t.name, t.days, redis.call('HGET', t.rows, pk), -1) end
end

-- the row's applied version; the first op of a customer's table also reads the TTL days
local function version_of(c, t, vfield)
  if t.stamp ~= nil then return tonumber(redis.call('HGET', c.ver, vfield) or '-1') end
  local got
  if c.stamp == nil then
    got = redis.call('HMGET', c.ver, vfield, t.stamp_field, '~ttl')
    c.stamp = got[3] or ''
  else
    got = redis.call('HMGET', c.ver, vfield, t.stamp_field)
  end
  t.stamp = got[2] or ''
  return tonumber(got[1] or '-1')
end

-- An upsert records its version, and the day its table's keys (and the customer's ver and
-- features) get their TTLs refreshed when that is not today yet: one HSET for all of it.
local function record_upsert(c, t, vfield, vtext)
  if t.stamp == today then
    redis.call('HSET', c.ver, vfield, vtext)
    return
  end
  t.stamp, t.refresh = today, true
  if c.stamp ~= today then
    c.stamp, c.refresh = today, true
    redis.call('HSET', c.ver, vfield, vtext, t.stamp_field, today, '~ttl', today)
  else
    redis.call('HSET', c.ver, vfield, vtext, t.stamp_field, today)
  end
end

local function apply_op(c, tno, op, pk, vtext, ts, row)
  local v = tonumber(vtext)
  local t = tbl(c, tno)
  t.touched = true
  local vfield = t.name .. ':' .. pk
  local cur = version_of(c, t, vfield)
  if op == 'evict' then
    -- reconciliation removing an entry MySQL no longer has; a newer write wins. Dropping only
    -- the version of a row deleted long ago is housekeeping, not a change.
    if cur >= 0 and cur <= v then
      remove_stored(c, t, pk, cur)
      local gone = redis.call('HDEL', t.rows, pk) + redis.call('ZREM', t.idx, pk)
      redis.call('HDEL', c.ver, vfield)
      if gone > 0 then t.changed = true; t.removed = true end
      applied = applied + 1
    else
      skipped = skipped + 1
    end
  elseif cur >= v then
    skipped = skipped + 1
  elseif op == 'delete' then
    remove_stored(c, t, pk, cur)
    redis.call('HDEL', t.rows, pk); redis.call('ZREM', t.idx, pk); redis.call('HSET', c.ver, vfield, vtext)
    t.changed = true; t.removed = true; applied = applied + 1
  elseif tonumber(ts) < now - t.window then
    skipped = skipped + 1
  else
    remove_stored(c, t, pk, cur)
    if not c.full then contribute(c, t.name, t.days, row, 1) end
    redis.call('HSET', t.rows, pk, row); redis.call('ZADD', t.idx, ts, pk)
    record_upsert(c, t, vfield, vtext)
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
  if c.new then
    f = recount(function() return {} end)
  else
    for k, val in pairs(c.old) do f[k] = val end
  end
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
  -- trim entries that left their window (every table when full, else the touched ones; nothing
  -- for a new customer: what was just written is inside its window)
  for i = 1, #names do
    local t = c.tables[i]
    if trim_all or (t and t.touched and not c.new) then
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
        t.changed = true; t.removed = true
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
  -- TTLs: a key lives one day longer than the longest window after its last write, refreshed
  -- at most once a day (so at least the longest window). A table's keys that lost entries may be
  -- gone and written again later today: their day is cleared, so that write sets their TTL.
  local changed, cleared = 0, {}
  for _, tb in pairs(c.tables) do
    if tb.changed then
      changed = changed + 1
      if tb.removed or tb.refresh then
        redis.call('EXPIRE', tb.rows, ttl); redis.call('EXPIRE', tb.idx, ttl)
      end
      if tb.removed then cleared[#cleared + 1] = tb.stamp_field end
    end
  end
  if #cleared > 0 then redis.call('HDEL', c.ver, unpack(cleared)) end
  if any and (changed > 0 or feat_changed > 0) then
    if c.refresh then
      redis.call('EXPIRE', c.ver, ttl); redis.call('EXPIRE', c.feat, ttl)
    elseif c.stamp ~= today then
      redis.call('EXPIRE', c.ver, ttl); redis.call('EXPIRE', c.feat, ttl)
      redis.call('HSET', c.ver, '~ttl', today)
    elseif feat_changed > 0 and not c.had_features then
      redis.call('EXPIRE', c.feat, ttl)  -- created just now
    end
  end
  changed_keys = changed_keys + changed
  features_changed = features_changed + feat_changed
  if changed > 0 or feat_changed > 0 then customers_changed = customers_changed + 1 end
end

