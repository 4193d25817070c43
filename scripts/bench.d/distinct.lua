-- Shared by the write workloads. `next_ts(base)` numbers a thread's requests: base, plus a range of
-- 1e9 per wrk thread, plus the request's count in that thread, so that no two requests of a run
-- write the same (channel, time). `id` is set per thread by setup() as a global of that thread's
-- Lua state. A second wrk run numbers from 1 again: start each run on an empty database.
local threads = {}
local counter = 0

setup = function(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function next_ts(base)
  counter = counter + 1
  return base + (id or 0) * 1000000000 + counter
end
