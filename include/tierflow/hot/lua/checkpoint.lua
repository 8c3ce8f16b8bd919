-- CHECKPOINT (tierflow.hot.stream.KinesisStream): KEYS[1] checkpoint hash; ARGV shard, sequence,
-- shard, sequence, ... Moves each shard's checkpoint forward only (sequence numbers are decimal
-- strings without leading zeros: compared by length, then as text), so a consumer acking late
-- after its lease moved never moves it back.
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local new = ARGV[i + 1]
  if not cur or #new > #cur or (#new == #cur and new > cur) then
    redis.call('HSET', KEYS[1], ARGV[i], new)
  end
end
return 1
