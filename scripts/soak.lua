-- wrk script for `make soak` (scripts/soak.py starts one wrk per kind of good call).
-- Environment: SOAK_KIND (label), SOAK_BODY (file sent as the body), SOAK_CONTENT_TYPE,
-- SOAK_KEY, SOAK_DELAY_MS (pause before each request, per connection).
-- Each answer is checked: 200 must not be an error envelope, 429 must carry Retry-After
-- (then the connection waits that long, as a client should). Prints one JSON line.

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

wrk.method = "POST"
wrk.body = read(os.getenv("SOAK_BODY"))
wrk.headers["Content-Type"] = os.getenv("SOAK_CONTENT_TYPE")
wrk.headers["Authorization"] = "Simple " .. os.getenv("SOAK_KEY")

local base_delay = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

counts = {}
local pause = 0

function delay()
  local ms = base_delay + pause
  pause = 0
  return ms
end

local function count(kind)
  counts[kind] = (counts[kind] or 0) + 1
end

function response(status, headers, body)
  if status == 200 then
    if body:sub(1, 9) == '{"error":' then
      count("200 error envelope")
    else
      count("200")
    end
  elseif status == 429 then
    local retry = headers["retry-after"] or headers["Retry-After"]
    if retry then
      count("429 with Retry-After")
      pause = 1000 * (tonumber(retry) or 1)
    else
      count("429 without Retry-After")
    end
  else
    count(tostring(status))
  end
end

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts") or {}
    for kind, n in pairs(c) do
      merged[kind] = (merged[kind] or 0) + n
    end
  end
  local parts = {}
  for kind, n in pairs(merged) do
    table.insert(parts, json_string(kind) .. ":" .. n)
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK_WRK {"kind":%s,"requests":%d,"duration_us":%d,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    json_string(os.getenv("SOAK_KIND") or "?"), summary.requests, summary.duration,
    table.concat(parts, ","), e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
