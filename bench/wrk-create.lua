-- wrk script for bench/api.ts: POST a Pod with a unique name per request.
-- RUN (env) keeps names unique across runs, the thread id across threads.
local counter = 0
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
request = function()
  counter = counter + 1
  local name = "w" .. os.getenv("RUN") .. "-" .. tid .. "-" .. counter
  local body = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"' .. name .. '","labels":{"app":"bench","tier":"backend","pod-template-hash":"6d84458cd8"},"annotations":{"bench/note":"' .. string.rep("x", 200) .. '"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80,"name":"http"}],"env":[{"name":"MODE","value":"bench"}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}'
  return wrk.format("POST", os.getenv("TARGET_PATH"), {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("TOKEN")}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT %d %d %d %d\n", summary.requests, summary.duration, summary.errors.status, latency:percentile(99)))
end
