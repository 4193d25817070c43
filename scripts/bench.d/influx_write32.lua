-- POST /write with 32 points, one per channel, at a distinct timestamp per request: what
-- /probe/insert32 stores, in InfluxDB line protocol (the HOST-FACTS reference workload).
local threads = {}
local counter = 0

setup = function(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local ts = (id or 0) * 1000000000 + counter
  local lines = {}
  for ch = 0, 31 do
    lines[#lines + 1] = "points,channel=" .. ch .. " value=" .. (ch * 1.5) .. " " .. ts
  end
  return wrk.format("POST", wrk.path, nil, table.concat(lines, "\n"))
end

dofile("scripts/bench.d/report.lua")
