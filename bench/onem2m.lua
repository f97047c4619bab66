-- wrk script for the citycse HTTP benchmark (driven by bench/http_bench.py).
--
-- Usage: wrk -t1 -c16 -d10s -s bench/onem2m.lua http://127.0.0.1:PORT -- key=value ...
--
--   mode=create    POST a contentInstance (ty=4) to `path` on every request
--   mode=retrieve  GET `path` on every request
--   mode=fill      POST exactly `count` contentInstances to `path`; the one with the
--                  number `label_at` carries lbl ["needle"]; when `count` of them have
--                  been answered the process prints its result and exits at once
--                  (wrk itself would otherwise sleep for the whole -d duration).
--   path=/cse-in/benchae/c1     request target (may include a query string)
--   origin=Cbench               X-M2M-Origin
--   count=10000, label_at=5000  (fill only)
--   con_bytes=16                size of `con` in each created instance
--
-- Every request carries its own X-M2M-RI.  The result is one line on stdout,
--   BENCH_JSON {...}
-- with wrk's latency percentiles (microseconds), request count, duration, wrk's
-- socket errors and the number of non-2xx responses counted in response().

local opts = {
    mode = "retrieve", path = "/", origin = "CAdmin",
    count = "10000", label_at = "5000", con_bytes = "16",
}
local threads = {}
local thread_counter = 0

-- Runs in the main Lua state, once per wrk thread.
function setup(thread)
    thread_counter = thread_counter + 1
    thread:set("tid", thread_counter)
    table.insert(threads, thread)
end

-- Runs in each thread's own Lua state.
function init(args)
    for _, arg in ipairs(args) do
        local key, value = string.match(arg, "^([%w_]+)=(.*)$")
        if key == nil then
            error("bad argument (want key=value): " .. arg)
        end
        opts[key] = value
    end
    tid = tid or 1
    sent = 0
    non2xx = 0
    ok2xx = 0
    created = 0
    count = tonumber(opts.count)
    label_at = tonumber(opts.label_at)
    mode = opts.mode
    if mode ~= "create" and mode ~= "retrieve" and mode ~= "fill" then
        error("unknown mode " .. mode)
    end
    filler = string.rep("x", math.max(0, tonumber(opts.con_bytes) - 8))
    create_headers = {
        ["X-M2M-Origin"] = opts.origin,
        ["X-M2M-RVI"] = "3",
        ["Content-Type"] = "application/json;ty=4",
        ["Accept"] = "application/json",
    }
    retrieve_headers = {
        ["X-M2M-Origin"] = opts.origin,
        ["X-M2M-RVI"] = "3",
        ["Accept"] = "application/json",
    }
    -- wrk calls request() once on its first thread before connecting, only to check
    -- how many requests the returned string holds (script_verify_request); that call
    -- must not count, or the fill would create one instance too few.
    verify_call_pending = (tid == 1)
end

local function create_request()
    create_headers["X-M2M-RI"] = "b" .. tid .. "-" .. sent
    local body
    if mode == "fill" and sent == label_at then
        body = '{"m2m:cin":{"con":"' .. string.format("%08d", sent) .. filler
            .. '","lbl":["needle"]}}'
    else
        body = '{"m2m:cin":{"con":"' .. string.format("%08d", sent) .. filler .. '"}}'
    end
    return wrk.format("POST", opts.path, create_headers, body)
end

local function retrieve_request()
    retrieve_headers["X-M2M-RI"] = "b" .. tid .. "-" .. sent
    return wrk.format("GET", opts.path, retrieve_headers)
end

function request()
    if verify_call_pending then
        verify_call_pending = false
        return retrieve_request()
    end
    sent = sent + 1
    if mode == "create" then
        return create_request()
    elseif mode == "retrieve" then
        return retrieve_request()
    end
    -- fill: the first `count` requests create; a connection that becomes free after
    -- that (while the last creates are still in flight) sends a harmless GET of the
    -- container instead, so that exactly `count` instances are created.
    if sent <= count then
        return create_request()
    end
    retrieve_headers["X-M2M-RI"] = "b" .. tid .. "-" .. sent
    return wrk.format("GET", opts.path, retrieve_headers)
end

local function fill_result()
    return string.format(
        '{"mode":"fill","created":%d,"non2xx":%d,"sent":%d,"ok2xx":%d}',
        created, non2xx, sent, ok2xx)
end

function response(status, headers, body)
    if status >= 200 and status < 300 then
        ok2xx = ok2xx + 1
        if status == 201 then
            created = created + 1
        end
    else
        non2xx = non2xx + 1
        if non2xx <= 3 then
            io.stderr:write("non-2xx " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
        end
    end
    if mode == "fill" and created + non2xx >= count then
        io.stdout:write("BENCH_JSON " .. fill_result() .. "\n")
        io.stdout:flush()
        os.exit(0)
    end
end

-- Runs in the main Lua state after the run.
function done(summary, latency, requests)
    local non2xx_total, created_total, sent_total = 0, 0, 0
    local mode_name = "?"
    for _, thread in ipairs(threads) do
        mode_name = thread:get("mode") or mode_name
        non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
        created_total = created_total + (thread:get("created") or 0)
        sent_total = sent_total + (thread:get("sent") or 0)
    end
    local e = summary.errors
    io.stdout:write(string.format(
        'BENCH_JSON {"mode":"%s","requests":%d,"duration_us":%d,"bytes":%d,'
        .. '"created":%d,"sent":%d,"non2xx":%d,'
        .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
        .. '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,'
        .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
        mode_name, summary.requests, summary.duration, summary.bytes,
        created_total, sent_total, non2xx_total,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.min, latency.mean, latency.stdev, latency.max,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9)))
end
