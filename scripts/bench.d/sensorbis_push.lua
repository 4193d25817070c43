-- A Sensorbis device push of ITEMS items (channels c0 .. c{ITEMS-1}) at a distinct time per
-- request: POST <uri> with the device's authorization string (PUSH_PATH, PUSH_AUTH).
dofile("scripts/bench.d/distinct.lua")
local items = tonumber(os.getenv("ITEMS") or "10")
local path = os.getenv("PUSH_PATH") or "/"
local auth = os.getenv("PUSH_AUTH") or ""

request = function()
  local ts = next_ts(1700000000000)
  local c = {}
  for i = 0, items - 1 do
    c[#c + 1] = string.format('{"i":"c%d","v":%d.%03d}', i, ts % 100000, i)
  end
  return wrk.format("POST", path,
    { ["Content-Type"] = "application/json;charset=utf-8", ["Authorization"] = auth },
    string.format('{"t":%d,"c":[%s]}', ts, table.concat(c, ",")))
end

dofile("scripts/bench.d/report.lua")
