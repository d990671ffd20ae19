-- wrk script: requests /f<N> with N drawn from a Zipf(alpha) popularity over
-- `files` names (bench/population.sh sets both), the same sequence for every
-- server given the same seed. Usage: wrk -s bench/zipf.lua URL -- FILES ALPHA SEED
local cdf = {}
local files = 20000

function init(args)
  files = tonumber(args[1] or "20000")
  local alpha = tonumber(args[2] or "0.9")
  local seed = tonumber(args[3] or "1")
  local total = 0
  for i = 1, files do
    total = total + 1 / (i ^ alpha)
    cdf[i] = total
  end
  for i = 1, files do cdf[i] = cdf[i] / total end
  -- each wrk thread its own stream, reproducible
  math.randomseed(seed + (tonumber(tostring(wrk.thread):match("0x(%x+)") or "0", 16) % 1000))
end

local function pick()
  local u = math.random()
  local lo, hi = 1, files
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo - 1
end

function request()
  return wrk.format("GET", "/f" .. pick())
end
