-- Link a feature to a cluster unless it already has one.
-- KEYS[1]: feature meta HASH; ARGV: cluster, now, ttl_ms
redis.call('HSETNX', KEYS[1], 'cl', ARGV[1])
redis.call('HSETNX', KEYS[1], 'fs', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], 'cl')
