-- RENEW (tierflow.hot.stream.KinesisStream): KEYS[1] lease; ARGV consumer, lease ms.
-- Take the lease if free, keep it if ours. 1 = held.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1
end
return 0
