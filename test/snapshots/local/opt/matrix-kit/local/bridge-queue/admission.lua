-- matrix-kit: when the bridges' queue holds their requests back. Rendered by infra/render/bridge-queue.ts.
-- Holding the bridges to a few requests in Synapse at a time only helps the owner while the owner is
-- there to be helped and the CPU is full (the owner's request then waits behind theirs); otherwise it
-- only slows the bridges. So every 500 ms this reads how busy the CPUs this container may run
-- on were (the VPS's, from the kernel's counters) and whether a request of the owner's clients came
-- in the last 30 s (the "owner" frontend's count; -1: not asked). Both (CPU at
-- 0.9 or more of its time): the bridges get 3 places in Synapse; once either has
-- stayed calm for 2 readings in a row, 256 (as many as they open).
local STAT = "/proc/stat"
local THRESHOLD = 0.9
local OWNER_WINDOW = 30
local LIMITED, FREE = "3", "256"
local PERIOD_MS, HOLD = 500, 2

-- The CPUs of this container's cpuset, read each time: it can change while HAProxy runs (docker update).
local function allowed()
  local set = {}
  local f = io.open("/proc/self/status")
  local list = f and f:read("a"):match("Cpus_allowed_list:%s*([%d,%-]+)") or ""
  if f then f:close() end
  for a, b in list:gmatch("(%d+)%-?(%d*)") do
    for c = tonumber(a), tonumber(b ~= "" and b or a) do set[c] = true end
  end
  return set
end

-- Busy and all ticks of those CPUs since boot (idle and iowait are not busy).
local function ticks()
  local cpus, busy, all = allowed(), 0, 0
  local f = io.open(STAT)
  if not f then return 0, 0 end
  for line in f:lines() do
    local n, rest = line:match("^cpu(%d+)%s+(.*)$")
    if n and cpus[tonumber(n)] then
      local v = {}
      for x in rest:gmatch("%d+") do v[#v + 1] = tonumber(x) end
      local sum = 0
      for i = 1, math.min(#v, 8) do sum = sum + v[i] end
      busy, all = busy + sum - v[4] - (v[5] or 0), all + sum
    end
  end
  f:close()
  return busy, all
end

-- Requests the owner's clients made so far, as the "owner" frontend counted them (nil: no frontend).
local function owner_requests()
  local f = OWNER_WINDOW >= 0 and core.frontends["owner"] or nil
  return f and tonumber(f:get_stats()["req_tot"]) or nil
end

core.register_task(function()
  local server = core.backends["synapse"].servers["synapse"]
  local busy0, all0 = ticks()
  local seen, last_owner = owner_requests(), nil
  local state, calm = LIMITED, 0
  while true do
    core.msleep(PERIOD_MS)
    local busy1, all1 = ticks()
    local share = all1 > all0 and (busy1 - busy0) / (all1 - all0) or 0
    busy0, all0 = busy1, all1
    local now = core.now().sec
    local n = owner_requests()
    if n and seen and n > seen then last_owner = now end
    seen = n
    local owner_here = n == nil or (last_owner ~= nil and now - last_owner < OWNER_WINDOW)
    calm = (share < THRESHOLD or not owner_here) and calm + 1 or 0
    local want = calm >= HOLD and FREE or LIMITED
    if want ~= state then
      -- A raised limit lets the waiting requests in at once.
      server:set_maxconn(want)
      state = want
      -- In HAProxy's log (docker logs): when the bridges were held, and why.
      core.log(core.notice, string.format("admission: bridges %s (CPU %d%% busy, owner %s)", want == LIMITED and "held" or "free", math.floor(share * 100 + 0.5), owner_here and "active" or "away"))
    end
  end
end)
