-- POST /post/v2 with 32 channels and a distinct timestamp per request (so every request adds 32
-- new points). The token comes from CONDUIT_TOKEN; the device is `bench-device`.
dofile("scripts/bench.d/distinct.lua")
local token = os.getenv("CONDUIT_TOKEN") or ""

local function body(ts)
  local data = {}
  for c = 1, 32 do
    data[c] = string.format('{"channelId":%d,"value":%d.%03d}', c, ts % 100000, c)
  end
  return string.format('{"token":"%s","networkId":"bench-device","timestamp":%d,"data":[%s]}',
    token, ts, table.concat(data, ","))
end

request = function()
  -- 1.7e12 ms plus a per-thread range: 13 digits, never the same (channel, time) twice.
  local ts = next_ts(1700000000000)
  return wrk.format("POST", "/post/v2", { ["Content-Type"] = "application/json" }, body(ts))
end

-- Non-2xx answers are counted as errors by the report.
dofile("scripts/bench.d/report.lua")
