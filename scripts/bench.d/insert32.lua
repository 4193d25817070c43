-- POST /probe/insert32 with a distinct timestamp per request, so every request adds 32 new rows.
dofile("scripts/bench.d/distinct.lua")

request = function()
  return wrk.format("POST", wrk.path .. "?ts=" .. next_ts(0))
end

-- The same one-line JSON report as the other workloads (wrk runs from the repository root).
dofile("scripts/bench.d/report.lua")
