-- Count one identity against each feature given. A feature's keys share its hash tag, and
-- only its base key is sent: the script derives the others (on Cluster one call per feature).
-- KEYS[k]: base key P:{f:<feature>} of
--   <base>:m      HASH {fs = first seen, fi = first identity, pr = promoted, cl = cluster}
--   <base>:s:<n>  short-window HLL of sub-bucket n;  <base>:l:<n>  long-window HLL
--   <base>:mt     HLL of the identities that sent it while mature (written by apply)
-- ARGV: identity, now, current short sub-bucket, current long sub-bucket, short sub-buckets,
--       long sub-buckets, meta_ttl_ms, short_ttl_ms, long_ttl_ms, cluster key prefix
-- Returns {short, long, first seen, cluster or false, its state, mature} per key, flat, in KEYS
-- order. The state {fs, ls, r, rt, members} of the feature's cluster is read here when a
-- cluster key prefix (P:{c:) is given, i.e. on standalone Redis, where another slot is no
-- obstacle: a feature pointing to a cluster the caller did not ask about then costs no second
-- round trip. Otherwise (Cluster) the state is false.
-- Long-window HLLs are only written once a second distinct identity shows up (the feature
-- is then "promoted" and the first identity is added too): most features are one-offs and
-- would otherwise cost a long HLL each.
local id = ARGV[1]
local now = ARGV[2]
local sb = tonumber(ARGV[3])
local lb = tonumber(ARGV[4])
local ns = tonumber(ARGV[5])
local nl = tonumber(ARGV[6])
local function cluster_state(base)
  local st = redis.call('HMGET', base .. ':s', 'fs', 'ls', 'r', 'rt')
  return {st[1], st[2], st[3], st[4], redis.call('PFCOUNT', base .. ':m')}
end

local out = {}
for k = 1, #KEYS do
  local base = KEYS[k]
  local meta = base .. ':m'
  local m = redis.call('HMGET', meta, 'fs', 'fi', 'pr', 'cl')
  local fs = m[1]
  if not fs then
    fs = now
    redis.call('HSET', meta, 'fs', now)
  end
  if not m[2] then
    redis.call('HSET', meta, 'fi', id)
  end

  local cur = base .. ':s:' .. sb
  redis.call('PFADD', cur, id)
  redis.call('PEXPIRE', cur, ARGV[8])
  local sk = {}
  for i = 0, ns - 1 do sk[i + 1] = base .. ':s:' .. (sb - i) end
  local short = redis.call('PFCOUNT', unpack(sk))

  local promoted = m[3] == '1'
  local long_cur = base .. ':l:' .. lb
  if (not promoted) and m[2] and m[2] ~= id then
    promoted = true
    redis.call('HSET', meta, 'pr', '1')
    redis.call('PFADD', long_cur, m[2])
  end
  local long = 1
  if promoted then
    redis.call('PFADD', long_cur, id)
    redis.call('PEXPIRE', long_cur, ARGV[9])
    local lk = {}
    for i = 0, nl - 1 do lk[i + 1] = base .. ':l:' .. (lb - i) end
    long = redis.call('PFCOUNT', unpack(lk))
  end
  if long < short then long = short end
  redis.call('PEXPIRE', meta, ARGV[7])
  local j = 6 * (k - 1)
  out[j + 1] = short
  out[j + 2] = long
  out[j + 3] = fs
  out[j + 4] = m[4] or false
  out[j + 5] = false
  if m[4] and ARGV[10] ~= '' then
    out[j + 5] = cluster_state(ARGV[10] .. m[4] .. '}')
  end
  out[j + 6] = redis.call('PFCOUNT', base .. ':mt')
end
return out
