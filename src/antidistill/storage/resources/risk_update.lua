-- Update an identity or a cluster: touch, decayed risk, cluster link, member count, fields.
-- KEYS[1]: state HASH {fs, ls, n, r, rt, cl, f:<name>...}
-- KEYS[2]: member HLL when ARGV[10] == '1' (clusters count their member identities)
-- KEYS[next]: ranking ZSET when ARGV[11] == '1', only on standalone Redis (on Cluster it
--             lives in another slot and the caller adds the returned score itself)
-- ARGV: now, touch (0/1), risk_add, cluster ('' = keep), member, half_life, ttl_ms, top_k,
--       ranked id, has_members (0/1), has_rank (0/1), then field name/value pairs
-- Returns {risk, score or false}; score = log2(risk) + rt / half_life ranks entries by
-- their decayed risk at any later time (the decay factor is common to all of them).
local now = tonumber(ARGV[1])
local touch = ARGV[2] == '1'
local add = tonumber(ARGV[3])
local hl = tonumber(ARGV[6])
local members = nil
local rank = nil
if ARGV[10] == '1' then members = KEYS[2] end
if ARGV[11] == '1' then rank = KEYS[#KEYS] end
local st = redis.call('HMGET', KEYS[1], 'fs', 'ls', 'r', 'rt')
if not st[1] then
  redis.call('HSET', KEYS[1], 'fs', ARGV[1], 'ls', ARGV[1], 'n', 0)
end
if touch then
  redis.call('HINCRBY', KEYS[1], 'n', 1)
  if (not st[2]) or now > tonumber(st[2]) then
    redis.call('HSET', KEYS[1], 'ls', ARGV[1])
  end
end
local risk = tonumber(st[3]) or 0
local rt = tonumber(st[4]) or now
if now > rt then
  risk = risk * math.pow(0.5, (now - rt) / hl)
  rt = now
end
local score = false
if add ~= 0 then
  risk = risk + add
  if risk < 0 then risk = 0 end
  redis.call('HSET', KEYS[1], 'r', string.format('%.17g', risk), 'rt', string.format('%.17g', rt))
  if risk > 0 then
    score = math.log(risk) / math.log(2) + rt / hl
  end
  if rank then
    if score then
      redis.call('ZADD', rank, score, ARGV[9])
      redis.call('ZREMRANGEBYRANK', rank, 0, -(tonumber(ARGV[8]) + 1))
      redis.call('PEXPIRE', rank, ARGV[7])
    else
      redis.call('ZREM', rank, ARGV[9])
    end
  end
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'cl', ARGV[4])
end
if members then
  redis.call('PFADD', members, ARGV[5])
  redis.call('PEXPIRE', members, ARGV[7])
end
for i = 12, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'f:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if score then score = string.format('%.17g', score) end
return {string.format('%.17g', risk), score}
