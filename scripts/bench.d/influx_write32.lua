-- POST /write with 32 points, one per channel, at a distinct timestamp per request: what
-- /probe/insert32 stores, in InfluxDB line protocol (the HOST-FACTS reference workload).
dofile("scripts/bench.d/distinct.lua")

request = function()
  local ts = next_ts(0)
  local lines = {}
  for ch = 0, 31 do
    lines[#lines + 1] = "points,channel=" .. ch .. " value=" .. (ch * 1.5) .. " " .. ts
  end
  return wrk.format("POST", wrk.path, nil, table.concat(lines, "\n"))
end

dofile("scripts/bench.d/report.lua")
