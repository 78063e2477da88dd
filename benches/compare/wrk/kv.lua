-- One wrk script for both sides of benches/compare/etcd_http.sh, so that redraft and etcd get the
-- very same load: `wrk ... -s kv.lua -- TARGET OP KEYS VALUE_BYTES`, with TARGET redraft or etcd,
-- OP put or get, each request on a key drawn at random from KEYS keys.
--   redraft: PUT /v1/kv/bench/N {"value": ...}; GET /v1/kv/bench/N (linearizable, the default)
--   etcd:    POST /v3/kv/put {"key": b64, "value": b64}; POST /v3/kv/range {"key": b64}
--            (linearizable, etcd's default)

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(text)
  local function char(k) return alphabet:sub(k + 1, k + 1) end
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = char(math.floor(n / 262144) % 64) .. char(math.floor(n / 4096) % 64)
      .. (b and char(math.floor(n / 64) % 64) or "=") .. (c and char(n % 64) or "=")
  end
  return table.concat(out)
end

local target, op, keys, value
local encoded = {}

function init(args)
  target, op = args[1], args[2]
  keys = tonumber(args[3])
  value = string.rep("v", tonumber(args[4]))
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  if target == "etcd" then
    for i = 1, keys do encoded[i] = base64("bench/" .. i) end
    value = base64(value)
  end
end

function request()
  local i = math.random(keys)
  if target == "redraft" then
    if op == "put" then
      return wrk.format("PUT", "/v1/kv/bench/" .. i, { ["Content-Type"] = "application/json" },
        '{"value":"' .. value .. '"}')
    end
    return wrk.format("GET", "/v1/kv/bench/" .. i)
  end
  if op == "put" then
    return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" },
      '{"key":"' .. encoded[i] .. '","value":"' .. value .. '"}')
  end
  return wrk.format("POST", "/v3/kv/range", { ["Content-Type"] = "application/json" },
    '{"key":"' .. encoded[i] .. '"}')
end
