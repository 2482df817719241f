"""The Lua script Envoy runs on every request to the gateway (see gateway.py).

It copies the top-level "model" string of an OpenAI JSON request into the `x-llmctl-model`
header, which the HTTPRoutes match, and clears Envoy's route cache so that they are matched
again with it. A client-sent header is always dropped first: only the body decides. The JSON
scan is a small state machine over the structural characters, so a "model" key inside
messages, tools or metadata, or inside a string, is never taken for the top-level one.
Envoy's Lua runtime is LuaJIT; tests run this script in LuaJIT too.
"""

MODEL_HEADER = "x-llmctl-model"

MODEL_HEADER_LUA = r"""-- llmctl: route on the OpenAI body's "model". Copies the top-level "model" string of a JSON
-- request into the x-llmctl-model header, then clears the route cache so that the HTTPRoutes,
-- which match that header, pick the backend.
local HEADER = "x-llmctl-model"

local function string_end(body, i)
  local j = i + 1
  while true do
    local k = body:find('["\\]', j)
    if k == nil then return nil end
    if body:sub(k, k) == "\\" then j = k + 2 else return k end
  end
end

function llmctl_top_level_model(body)
  local i, depth, want_key = 1, 0, false
  while true do
    local k = body:find('[{}%[%],"]', i)
    if k == nil then return nil end
    local c = body:sub(k, k)
    if c == '"' then
      local e = string_end(body, k)
      if e == nil then return nil end
      i = e + 1
      if depth == 1 and want_key then
        local after = body:match("^%s*:()", e + 1)
        if after == nil then return nil end
        if body:sub(k + 1, e - 1) == "model" then
          return body:match('^%s*"([^"\\]+)"', after)
        end
        want_key = false
        i = after
      end
    elseif c == "{" or c == "[" then
      depth = depth + 1
      want_key = depth == 1 and c == "{"
      i = k + 1
    else
      if c == "," and depth == 1 then want_key = true end
      if c == "}" or c == "]" then depth = depth - 1 end
      i = k + 1
    end
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove(HEADER)
  local ctype = headers:get("content-type") or ""
  if headers:get(":method") == "POST" and ctype:find("json", 1, true) then
    local body = handle:body()
    if body ~= nil and body:length() > 0 then
      local model = llmctl_top_level_model(body:getBytes(0, body:length()))
      if model ~= nil then headers:replace(HEADER, model) end
    end
  end
  -- Envoy's stream handle always has clearRouteCache(); Envoy Gateway's strict Lua validation
  -- runs this script against a mock handle that lacks it, and would refuse the policy (and
  -- then answer every route with a 500). The check keeps both working.
  if handle.clearRouteCache ~= nil then handle:clearRouteCache() end
end
"""
