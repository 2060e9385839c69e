package redisstore

import "github.com/redis/go-redis/v9"

// The store's keys share the hash tag {prefix}, so the scripts work on a
// Redis Cluster too. KEYS[1] is the stream, KEYS[2] the hash from each id
// to the Seqs of its updates in history (ids may repeat: decimal Seqs
// separated by spaces, oldest first), KEYS[3] the Seq counter, KEYS[4] the
// bytes of history. Stream entries
// have ID "<seq>-0" (so entry order is Seq order) and the fields id, t
// (Unix milliseconds, for age trimming), u (the update's JSON) and n (what
// the entry counts against the byte bound; entries written before it
// existed count their id and JSON plus entryOverhead).

// trimLua is shared by the scripts: trim(maxlen, cutMs, maxbytes) drops
// the oldest entries beyond maxlen, those older than cutMs (when not 0)
// and, while the history holds more than maxbytes (when not 0), the oldest
// but the newest, taking their Seqs off the hash, with XTRIM MINID. The
// oldest entry is always the oldest occurrence of its id, so its Seq is the
// first of the id's list.
const trimLua = `
local function forget(id)
  local l = redis.call('HGET', KEYS[2], id)
  if not l then return end
  local rest = string.match(l, '^%d+ (.*)$')
  if rest then redis.call('HSET', KEYS[2], id, rest) else redis.call('HDEL', KEYS[2], id) end
end
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
      forget(f[2])
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
// none), maxbytes (0 for none), the entry's size. Returns the update's
// seq.
var appendScript = redis.NewScript(trimLua + `
local maxlen, cut, maxbytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
trim(maxlen, cut, maxbytes)
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
local l = redis.call('HGET', KEYS[2], ARGV[1])
if l then redis.call('HSET', KEYS[2], ARGV[1], l .. ' ' .. seq) else redis.call('HSET', KEYS[2], ARGV[1], seq) end
if redis.call('XLEN', KEYS[1]) == 1 then
  redis.call('SET', KEYS[4], ARGV[7]) -- history was empty: start the count afresh
else
  redis.call('INCRBY', KEYS[4], ARGV[7])
end
trim(maxlen, cut, maxbytes)
return seq
`)

// lookupScript: ARGV = id, cut (ms, 0 for none). Returns the seq of the
// earliest update with this id still in history and not expired, or false.
var lookupScript = redis.NewScript(`
local l = redis.call('HGET', KEYS[2], ARGV[1])
if not l then return false end
for s in string.gmatch(l, '%d+') do
  local e = redis.call('XRANGE', KEYS[1], s .. '-0', s .. '-0')
  if #e > 0 and tonumber(e[1][2][4]) >= tonumber(ARGV[2]) then return s end
end
return false
`)
