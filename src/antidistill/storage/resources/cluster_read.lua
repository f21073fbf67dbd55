-- The state of each cluster given. KEYS[k]: a cluster's base key P:{c:<cluster>}, of its
-- state HASH <base>:s and member HLL <base>:m (on Cluster one call per cluster).
-- Returns {fs, ls, r, rt, members} per key, flat (false where a field is missing).
local out = {}
for k = 1, #KEYS do
  local st = redis.call('HMGET', KEYS[k] .. ':s', 'fs', 'ls', 'r', 'rt')
  local j = 5 * (k - 1)
  out[j + 1], out[j + 2], out[j + 3], out[j + 4] = st[1], st[2], st[3], st[4]
  out[j + 5] = redis.call('PFCOUNT', KEYS[k] .. ':m')
end
return out
