-- InfluxDB 1.x /write of what a Sensorbis push of ITEMS items stores: one line per channel
-- (measurement c0 .. c{ITEMS-1}, as Fieldline names a series by its communicationId, tagged with
-- the device), at a distinct millisecond time per request.
dofile("scripts/bench.d/distinct.lua")
local items = tonumber(os.getenv("ITEMS") or "10")

request = function()
  local ts = next_ts(1700000000000)
  local lines = {}
  for i = 0, items - 1 do
    lines[#lines + 1] = string.format("c%d,device=bench value=%d.%03d %d", i, ts % 100000, i, ts)
  end
  return wrk.format("POST", wrk.path, nil, table.concat(lines, "\n"))
end

dofile("scripts/bench.d/report.lua")
