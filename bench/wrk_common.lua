-- Shared by the bench/*.lua wrk scripts: a request rotation and a parseable summary.
-- Each script fills `bodies` (1-based) and sets `path`; requests cycle through them.
local M = {}

-- The requests are formatted on first use: wrk.host (the Host header, which Go's
-- server requires) is not known yet while the script loads.
function M.rotation(path, bodies)
  local reqs = nil
  local i = 0
  return function()
    if reqs == nil then
      reqs = {}
      for k, b in ipairs(bodies) do
        reqs[k] = wrk.format("POST", path, {["Content-Type"] = "application/json", ["Host"] = "127.0.0.1"}, b)
      end
    end
    i = i + 1
    return reqs[(i - 1) % #reqs + 1]
  end
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests %d duration_us %d socket_errors %d non2xx %d p50_us %d p99_us %d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end

return M
