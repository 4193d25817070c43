-- POST /probe/insert32 with a distinct timestamp per request, so every request adds 32 new rows.
local threads = {}
local counter = 0

-- `id` is set per thread by setup() as a global of that thread's Lua state.
setup = function(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  return wrk.format("POST", wrk.path .. "?ts=" .. ((id or 0) * 1000000000 + counter))
end

-- The same one-line JSON report as the other workloads (wrk runs from the repository root).
dofile("scripts/bench.d/report.lua")
