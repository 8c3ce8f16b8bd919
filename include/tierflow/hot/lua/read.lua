-- READ: one customer's view (see tierflow.hot.store for KEYS and ARGV).
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
