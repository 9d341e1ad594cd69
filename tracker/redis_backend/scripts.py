"""The Lua scripts that make one announce (and one expiry pass) a single Redis round trip.

Layout of one swarm, under ``PREFIX:INFOHASH:`` (the info-hash as its 20 raw bytes):

- ``p``: hash peer id -> record: ``<QQB`` (uploaded, downloaded, role) + member
  (`tracker.store.MEMBER_BYTES`: owner serial, IPv4 slot, IPv6 slot);
- ``r0`` .. ``r3``: one sorted set per `Role` of members ``peer id + member``, scored
  by expiry time, so counts are ``ZCARD``, expired peers are a ``ZRANGEBYSCORE`` and a
  sample carries its addresses and owner (no lookup in ``p``, whose small-hash
  encoding makes each field lookup a scan: an ``HMGET`` of 50 peers cost Redis ~100 us,
  more than the rest of the script);
- ``s``: hash owner serial -> peer ids it holds in the swarm (the per-serial cap);
- ``c``: the ``completed`` counter.

``PREFIX:swarms`` is a sorted set of the info-hashes with peers, scored by their latest
expiry time (for `expire` and metrics). Every key is given a TTL on each announce, so
an abandoned swarm disappears even if no tracker runs `expire` any more. (The eight
TTLs are set together, by the announce that creates a key or finds the peers hash
with less than 3/4 of its TTL left: each ``redis.call`` costs the script a few
microseconds, and the eight ``PEXPIRE`` on every announce were a fifth of its time.)

Randomness: the script seeds Lua's generator from an ``ARGV`` drawn from the caller's
``rng``; ``ZRANDMEMBER`` then picks the members inside each role set.
"""

from __future__ import annotations

__all__ = ["ANNOUNCE_LUA", "EXPIRE_LUA", "PEER_ID_BYTES", "RECORD_HEAD_BYTES"]

PEER_ID_BYTES = 20
"""Peer ids are 20 bytes (BEP 3); a set member is the id, then the address."""

RECORD_HEAD_BYTES = 17
"""``<QQB``: uploaded, downloaded, role; the member follows."""

# Shared by both scripts: drop the members of `zkey` scored <= now from it, their
# peer ids from `hkey` and their owners' counts in `okey`, in chunks (Lua's unpack()
# is limited to a few thousand values).
_TRIM = """
local NO_OWNER = string.rep('\\0', 20)
local function disown(okey, owner)
  if owner ~= NO_OWNER and redis.call('HINCRBY', okey, owner, -1) <= 0 then
    redis.call('HDEL', okey, owner)
  end
end
local function trim(zkey, hkey, okey, now)
  local stale = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)
  for i = 1, #stale, 1000 do
    local chunk, ids = {}, {}
    for j = i, math.min(i + 999, #stale) do
      chunk[#chunk + 1] = stale[j]
      ids[#ids + 1] = string.sub(stale[j], 1, 20)
      disown(okey, string.sub(stale[j], 21, 40))
    end
    redis.call('ZREM', zkey, unpack(chunk))
    redis.call('HDEL', hkey, unpack(ids))
  end
  return #stale
end
"""

ANNOUNCE_LUA = (
    _TRIM
    + """
-- KEYS: 1 peers hash, 2..5 role sets r0..r3, 6 completed counter, 7 owner counts,
--       8 swarm index
-- ARGV: 1 peer id, 2 record head (<QQB), 3 role, 4 expires_at, 5 now, 6 numwant,
--       7 origins for leechers (0/1), 8 completed (0/1), 9 stopped (0/1),
--       10 max peers per swarm, 11 random seed, 12 key TTL (ms), 13 info-hash,
--       14 owner (20 bytes), 15 compact address, 16 max peer ids per owner (0: no cap)
local pid, role, numwant = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[6])
local owner, cap = ARGV[14], tonumber(ARGV[16])
for r = 2, 5 do trim(KEYS[r], KEYS[1], KEYS[7], ARGV[5]) end

-- the role sets' sizes, read once and kept up to date below (each redis.call costs the
-- script a few microseconds, more than most of the commands themselves)
local cards = {}
for r = 2, 5 do cards[r] = redis.call('ZCARD', KEYS[r]) end
local function card(k) return cards[k] end
local fresh = false  -- a key was created: give every key its TTL now
local function refuse(reason)  -- nothing changed: counts and the reason
  return {card(3) + card(4), card(2) + card(5),
          tonumber(redis.call('GET', KEYS[6]) or '0'), reason}
end

local prev = redis.call('HGET', KEYS[1], pid)
local prev_role = -1
if prev then
  -- a record belongs to the serial that created it
  if string.sub(prev, 18, 37) ~= owner then return refuse('other_owner') end
  prev_role = string.byte(prev, 17)
elseif ARGV[9] ~= '1' and cap > 0
    and tonumber(redis.call('HGET', KEYS[7], owner) or '0') >= cap then
  return refuse('owner_cap')
end
-- a peer already seeding that repeats "completed" is not counted twice
if ARGV[8] == '1' and prev_role ~= 1 and prev_role ~= 2 then
  if redis.call('INCR', KEYS[6]) == 1 then fresh = true end
end

-- the member: this announce's address in its family's slot, the other slot kept
local v4, v6 = string.rep('\\0', 6), string.rep('\\0', 18)
if prev then v4, v6 = string.sub(prev, 38, 43), string.sub(prev, 44, 61) end
if #ARGV[15] == 6 then v4 = ARGV[15] else v6 = ARGV[15] end
local member = owner .. v4 .. v6

local function total()
  local n = 0
  for r = 2, 5 do n = n + card(r) end
  return n
end

local cands, orig = {}, {}
local function give(list, m)  -- unless it is the announcing peer itself
  if string.sub(m, 1, 20) ~= pid then
    list[#list + 1] = string.sub(m, 21)
    return 1
  end
  return 0
end

if prev then  -- its set member names its old member: take it out, put it back below
  local k = 2 + prev_role
  cards[k] = cards[k] - redis.call('ZREM', KEYS[k], pid .. string.sub(prev, 18))
end
if ARGV[9] == '1' then
  if prev then
    redis.call('HDEL', KEYS[1], pid)
    disown(KEYS[7], owner)
    if total() == 0 then redis.call('ZREM', KEYS[8], ARGV[13]) end
  end
else
  local stored = prev or total() < tonumber(ARGV[10])
  if stored then
    local added = redis.call('ZADD', KEYS[2 + role], ARGV[4], pid .. member)
    cards[2 + role] = cards[2 + role] + added
    if added == cards[2 + role] then fresh = true end  -- the set was empty: a new key
    redis.call('HSET', KEYS[1], pid, ARGV[2] .. member)
    if not prev and owner ~= NO_OWNER
        and redis.call('HINCRBY', KEYS[7], owner, 1) == 1 then fresh = true end
    if redis.call('ZADD', KEYS[8], 'GT', ARGV[4], ARGV[13]) == 1 then fresh = true end
  end  -- else the swarm is full: answer the peer without storing it
  if numwant > 0 then
    local pools
    if role == 0 and ARGV[7] == '1' then
      for _, o in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do give(orig, o) end
      pools = {3, 2, 5}
    elseif role == 0 then
      pools = {4, 3, 2, 5}
    else
      pools = {2}  -- seeders, origins and partial seeds are given leechers only
    end
    -- how many to take from each pool: draws without replacement over the union,
    -- so the sample is uniform over all the pools' members together
    local mine = stored and (2 + role) or -1
    local sizes, left = {}, 0
    for i, k in ipairs(pools) do
      sizes[i] = card(k) - ((k == mine) and 1 or 0)
      left = left + sizes[i]
    end
    local want = math.min(numwant, left)
    local take = {}
    for i = 1, #pools do take[i] = 0 end
    math.randomseed(tonumber(ARGV[11]))
    for _ = 1, want do
      local x = math.random(left)
      for i = 1, #pools do
        local free = sizes[i] - take[i]
        if x <= free then take[i] = take[i] + 1; break end
        x = x - free
      end
      left = left - 1
    end
    for i, k in ipairs(pools) do
      if take[i] > 0 then
        local extra = (k == mine) and 1 or 0
        local got = 0
        for _, m in ipairs(redis.call('ZRANDMEMBER', KEYS[k], take[i] + extra)) do
          if got < take[i] then got = got + give(cands, m) end
        end
      end
    end
    -- ZRANDMEMBER returns a large share of a set in the set's order, and lists are cut
    -- from the front: shuffle (Fisher-Yates)
    for i = #cands, 2, -1 do
      local j = math.random(i)
      cands[i], cands[j] = cands[j], cands[i]
    end
  end
end

-- Key TTLs: all eight are set together, when a key was created or when the peers
-- hash (set with them) has lost a quarter of its TTL, so every key always has at
-- least 3/4 of the TTL left after an announce, and 7 calls are saved on most.
local ttl = tonumber(ARGV[12])
if fresh or redis.call('PTTL', KEYS[1]) < ttl - math.floor(ttl / 4) then
  for k = 1, 8 do redis.call('PEXPIRE', KEYS[k], ttl) end
end

-- members go back as two strings of fixed-size entries (candidates, origins): one
-- bulk string parses far faster in the client than one per peer
return {
  card(3) + card(4), card(2) + card(5),
  tonumber(redis.call('GET', KEYS[6]) or '0'), prev or '',
  table.concat(cands), table.concat(orig),
}
"""
)

EXPIRE_LUA = (
    _TRIM
    + """
-- KEYS: 1 swarm index; ARGV: 1 now, 2 key prefix ("PREFIX:")
-- Every swarm in the index is visited: O(swarms) per pass, run every
-- expire_every_s by each tracker (announces trim their own swarm meanwhile).
local dropped = 0
for _, ih in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local base = ARGV[2] .. ih .. ':'
  local left = 0
  for r = 0, 3 do
    dropped = dropped + trim(base .. 'r' .. r, base .. 'p', base .. 's', ARGV[1])
    left = left + redis.call('ZCARD', base .. 'r' .. r)
  end
  if left == 0 then
    redis.call('ZREM', KEYS[1], ih)
    redis.call('DEL', base .. 'p', base .. 's')
  end
end
return dropped
"""
)
