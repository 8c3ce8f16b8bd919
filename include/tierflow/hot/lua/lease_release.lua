-- RELEASE (tierflow.hot.stream.KinesisStream): KEYS[1] lease; ARGV consumer.
-- Delete it only if it is ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
