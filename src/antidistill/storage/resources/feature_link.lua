-- Link each feature to a cluster unless it already has one.
-- KEYS[k]: base key P:{f:<feature>} (the meta HASH is <base>:m); ARGV: cluster, now, ttl_ms
for k = 1, #KEYS do
  local meta = KEYS[k] .. ':m'
  redis.call('HSETNX', meta, 'cl', ARGV[1])
  redis.call('HSETNX', meta, 'fs', ARGV[2])
  redis.call('PEXPIRE', meta, ARGV[3])
end
return #KEYS
