-- APPLY: the ops of a chunk of customers (see tierflow.hot.store for KEYS and ARGV).
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
