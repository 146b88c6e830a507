-- wrk script of benchmarks/ingest.py: POST a visitor message as one of many visitors in
-- turn (their tokens in the file BENCH_TOKENS, one a line), count the answers by status and
-- keep the message ids of the 201s, so the benchmark can check each one was stored.
-- With BENCH_ONCE set, each token is used once, in order, and the run stops after the last.
-- A line "PATH TOKEN" posts to its own path instead of BENCH_PATH.
local tokens = {}
local paths = {}
local path = os.getenv("BENCH_PATH")
local body = '{"text":"Do you ship to Brno? I would like two kilos of sencha."}'

function setup(thread)
  threads = threads or {}
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    local own_path, token = line:match("^(%S+) (%S+)$")
    tokens[#tokens + 1] = token or line
    paths[#paths + 1] = own_path or path
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  once = os.getenv("BENCH_ONCE") ~= nil
  position = once and 0 or math.random(#tokens)
  answered = 0
  statuses = {}
  ids = {}
end

function request()
  if not verified then
    -- wrk builds one request to check the script before the run and never sends it: it
    -- must not use up a token (so BENCH_ONCE runs use one thread, -t1).
    verified = true
    return wrk.format("POST", paths[1], {["Content-Type"] = "application/json"}, body)
  end
  if once and position >= #tokens then
    -- every token sent: cheap fillers until the last answers are in (not counted)
    return wrk.format("GET", "/healthz")
  end
  position = position % #tokens + 1
  return wrk.format("POST", paths[position], {
    ["Authorization"] = "Bearer " .. tokens[position],
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, answer)
  if once and status == 200 and answer:find('"status"') then
    return -- a filler request after the last token
  end
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if status == 201 then
    local id = answer:match('"message_id":%s*(%d+)')
    if id then ids[#ids + 1] = id end
  end
  if once and answered >= #tokens then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_RESULT"), "w")
  out:write(string.format('{"requests": %d, "duration_us": %d, ', summary.requests, summary.duration))
  out:write(string.format('"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, ',
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
  out:write(string.format('"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ',
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  local counted = {}
  local all_ids = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counted[status] = (counted[status] or 0) + n
    end
    for _, id in ipairs(thread:get("ids")) do all_ids[#all_ids + 1] = id end
  end
  local parts = {}
  for status, n in pairs(counted) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  out:write('"statuses": {' .. table.concat(parts, ", ") .. '}, ')
  out:write('"ids": [' .. table.concat(all_ids, ",") .. ']}')
  out:close()
end
