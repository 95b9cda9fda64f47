-- wrk script: POSTs real web-vitals v5 attribution beacons of 3-5 metrics, each
-- request with fresh metric ids ("SEQ" becomes the request's sequence number).
-- Templates come from templates.lua, written by bench/ingest.py.
local templates = dofile(os.getenv("BENCH_TEMPLATES"))
local path = os.getenv("BENCH_PATH")
-- Ids stay unique across runs against the same database: run * 1e9 + seq.
local run = tonumber(os.getenv("BENCH_RUN"))
local headers = {
  ["Content-Type"] = "text/plain;charset=UTF-8",
  ["Origin"] = os.getenv("BENCH_ORIGIN"),
  ["User-Agent"] = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
}
seq = 0  -- global: done() reads it through thread:get
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  seq = seq + 1
  local body = templates[(seq % #templates) + 1]:gsub("SEQ", string.format("%d", run * 1000000000 + seq))
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local generated = 0
  for _, thread in ipairs(threads) do
    generated = generated + thread:get("seq")
  end
  io.write(string.format(
    "BENCH_RESULT {\"generated\": %d, \"completed\": %d, \"non2xx\": %d, \"socket_errors\": %d, \"p50_us\": %d, \"p99_us\": %d}\n",
    generated, summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
