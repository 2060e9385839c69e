package redisstore

import "github.com/redis/go-redis/v9"

// The store's keys share the hash tag {prefix}, so the scripts work on a
// Redis Cluster too. KEYS[1] is the stream, KEYS[2] the id→seq hash,
// KEYS[3] the Seq counter, KEYS[4] the bytes of history. Stream entries
// have ID "<seq>-0" (so entry order is Seq order) and the fields id, t
// (Unix milliseconds, for age trimming), u (the update's JSON) and n (what
// the entry counts against the byte bound; entries written before it
// existed count their id and JSON plus entryOverhead).

// trimLua is shared by the scripts: trim(maxlen, cutMs, maxbytes) drops
// the oldest entries beyond maxlen, those older than cutMs (when not 0)
// and, while the history holds more than maxbytes (when not 0), the oldest
// but the newest, deleting their ids from the hash, with XTRIM MINID.
const trimLua = `
local function size(f)
  if f[8] then return tonumber(f[8]) end
  return #f[2] + #f[6] + 64
end
local function trim(maxlen, cut, maxbytes)
  local left = redis.call('XLEN', KEYS[1])
  local excess = left - maxlen
  local bytes = tonumber(redis.call('GET', KEYS[4]) or '0')
  local dropped = 0
  while excess > 0 or cut > 0 or (maxbytes > 0 and bytes > maxbytes and left > 1) do
    local batch = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
    local last = nil
    for _, e in ipairs(batch) do
      local f = e[2]
      if not (excess > 0 or tonumber(f[4]) < cut or (maxbytes > 0 and bytes > maxbytes and left > 1)) then break end
      redis.call('HDEL', KEYS[2], f[2])
      last = e[1]
      excess = excess - 1
      left = left - 1
      bytes = bytes - size(f)
      dropped = dropped + 1
    end
    if last == nil then break end
    local seq = string.match(last, '^(%d+)-')
    redis.call('XTRIM', KEYS[1], 'MINID', (tonumber(seq) + 1) .. '-0')
    if #batch < 100 then break end
  end
  if dropped > 0 then redis.call('SET', KEYS[4], string.format('%.0f', math.max(bytes, 0))) end
end
`

// appendScript: ARGV = id, update JSON, time (ms), maxlen, cut (ms, 0 for
// none), maxbytes (0 for none), the entry's size. Returns {1, seq} when
// stored, {0, seq, json} for a duplicate.
var appendScript = redis.NewScript(trimLua + `
local maxlen, cut, maxbytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
trim(maxlen, cut, maxbytes)
local s = redis.call('HGET', KEYS[2], ARGV[1])
if s then
  local e = redis.call('XRANGE', KEYS[1], s .. '-0', s .. '-0')
  if #e > 0 then return {0, s, e[1][2][6]} end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
-- Seq never goes below the clock in milliseconds: should Redis lose its data
-- (no persistence, a restart), the counter starts again above every Seq the
-- nodes have seen, instead of at 1 below them, where they would ignore it.
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local seq = redis.call('INCR', KEYS[3])
if seq < floor then
  seq = floor
  redis.call('SET', KEYS[3], string.format('%.0f', floor))
end
seq = string.format('%.0f', seq)
redis.call('XADD', KEYS[1], seq .. '-0', 'id', ARGV[1], 't', ARGV[3], 'u', ARGV[2], 'n', ARGV[7])
redis.call('HSET', KEYS[2], ARGV[1], seq)
if redis.call('XLEN', KEYS[1]) == 1 then
  redis.call('SET', KEYS[4], ARGV[7]) -- history was empty: start the count afresh
else
  redis.call('INCRBY', KEYS[4], ARGV[7])
end
trim(maxlen, cut, maxbytes)
return {1, seq}
`)

// lookupScript: ARGV = id, cut (ms, 0 for none). Returns the seq of the
// update with this id still in history, or false.
var lookupScript = redis.NewScript(`
local s = redis.call('HGET', KEYS[2], ARGV[1])
if not s then return false end
local e = redis.call('XRANGE', KEYS[1], s .. '-0', s .. '-0')
if #e == 0 then return false end
if tonumber(e[1][2][4]) < tonumber(ARGV[2]) then return false end
return s
`)
