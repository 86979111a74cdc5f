-- Builds the environment scripts run in (executed once per Lua state, before any script).
--
-- Arguments: H, the helpers and libraries written in Rust; base, the globals of the fresh
-- state (Lua's own base, string, table, math and coroutine libraries); mode, "eval" or
-- "function".
--
-- Redis makes every table reachable from the globals read-only with a patch to the Lua VM.
-- Without that patch, each library is replaced by an empty proxy table whose metatable
-- forwards reads and refuses writes (assignments, rawset, setmetatable): the real tables
-- are never reachable from a script. The globals are such a proxy too, in front of a table
-- whose __index raises "Script attempted to access nonexistent global variable".
local H, base, mode = ...

local setmetatable, next, type, select = base.setmetatable, base.next, base.type, base.select
local pcall, xpcall = base.pcall, base.xpcall
local fix, check_abort = H.fix, H.check_abort
local ro = H.readonly
local proxies = {}

local function protect(real)
  local p = {}
  setmetatable(p, { __index = real, __newindex = H.newindex_ro, __metatable = false })
  ro[p] = real
  proxies[#proxies + 1] = p
  return p
end

local function copy(t)
  local c = {}
  for k, v in next, t do c[k] = v end
  return c
end

-- The globals scripts see.
local G = {}
for _, k in next, { 'assert', 'error', 'gcinfo', 'ipairs', 'rawequal',
                    'select', 'tonumber', 'tostring', 'type', 'unpack', '_VERSION' } do
  G[k] = base[k]
end
-- pairs, next and rawget see through the proxies (Redis's tables are readable raw).
G.pairs = H.pairs
G.next = H.next
G.rawget = H.rawget
G.collectgarbage = H.collectgarbage
G.getmetatable = H.getmetatable
G.setmetatable = H.setmetatable
G.rawset = H.rawset
G.loadstring = H.loadstring
G.load = H.load

-- pcall: Redis returns the message of an error table (`{err = "..."}`) instead of the table.
-- Errors raised by Rust functions are converted first, and a script being stopped (SCRIPT
-- KILL, instruction limit) cannot be caught.
local function pfix(ok, ...)
  if ok then return ok, ... end
  check_abort()
  local e = fix((...))
  if type(e) == 'table' then
    local m = e.err
    local t = type(m)
    if t == 'string' or t == 'number' then e = m end
  end
  return false, e
end
G.pcall = function(...) return pfix(pcall(...)) end

local function xfix(ok, ...)
  if not ok then check_abort() end
  return ok, ...
end
G.xpcall = function(...)
  if select('#', ...) < 2 then return xpcall(...) end
  local f, h = ...
  return xfix(xpcall(f, function(e) return h(fix(e)) end))
end

local co = copy(base.coroutine)
local resume = co.resume
local function rfix(ok, ...)
  if ok then return ok, ... end
  check_abort()
  return false, fix((...))
end
co.resume = function(...) return rfix(resume(...)) end

-- coroutine.wrap: Lua's own prefixes the caller's position to an error that is a string;
-- errors raised from Rust only become strings in `fix`, so wrap is redone here.
local cocreate, unpack = base.coroutine.create, base.unpack
local function pack(...) return select('#', ...), { ... } end
co.wrap = function(...)
  -- create refuses what wrap refuses (anything but a Lua function).
  local ok, c = pcall(cocreate, (...))
  if not ok then error("bad argument #1 to 'wrap' (Lua function expected)", 2) end
  return function(...)
    local n, r = pack(resume(c, ...))
    if not r[1] then
      check_abort()
      local e = fix(r[2])
      local t = type(e)
      -- Level 2 is the caller (not a tail call: those leave no position in Lua 5.1).
      if t == 'string' or t == 'number' then error(e, 2) end
      error(e, 0)
    end
    return unpack(r, 2, n)
  end
end

local math = copy(base.math)
math.random = H.random
math.randomseed = H.randomseed

-- table.insert is the one library function that writes raw integer keys into a table it is
-- given (remove and sort only move existing elements, and proxies have none): it refuses
-- read-only tables, after checking its arguments as Lua does (so that errors keep the
-- caller's line).
local tinsert, format, tonumber = base.table.insert, base.string.format, base.tonumber
local function argerr(n, name, expected, got)
  error(format("bad argument #%d to '%s' (%s expected, got %s)", n, name, expected, got), 3)
end
local tablib = copy(base.table)
tablib.insert = function(...)
  local n = select('#', ...)
  local t, pos = ...
  if type(t) ~= 'table' then argerr(1, 'insert', 'table', n == 0 and 'no value' or type(t)) end
  if n == 3 then
    if tonumber(pos) == nil then argerr(2, 'insert', 'number', type(pos)) end
  elseif n ~= 2 then
    error("wrong number of arguments to 'insert'", 2)
  end
  if ro[t] then error('Attempt to modify a readonly table', 0) end
  return tinsert(...)
end

G.string = protect(copy(base.string))
G.table = protect(tablib)
G.math = protect(math)
G.coroutine = protect(co)
G.bit = protect(H.bit)
G.struct = protect(H.struct)
G.cjson = protect(H.cjson)
G.cmsgpack = protect(H.cmsgpack)
G.redis = protect(H.redis)
if mode == 'eval' then
  G.__redis__err__handler = H.handler
end

-- What getmetatable('') returns: the real string metatable stays out of reach.
local string_mt = H.string_mt
local string_mt_view = { __index = G.string }
setmetatable(string_mt, { __index = string_mt_view, __newindex = H.newindex_ro, __metatable = false })
ro[string_mt] = string_mt_view
proxies[#proxies + 1] = string_mt

local env = H.env
local env_mt = { __index = G, __newindex = H.newindex_ro, __metatable = false }
setmetatable(env, env_mt)
ro[env] = G
proxies[#proxies + 1] = env
G._G = env
local G_mt = { __index = H.missing_global }
setmetatable(G, G_mt)
-- getmetatable(_G) shows the globals' metatable, read-only (Redis protects it too).
H.metatable_views[env] = protect(G_mt)

-- FUNCTION LOAD sees only `redis` with register_function, log and the version fields.
local load_globals
if mode == 'function' then
  local lr = copy(H.load_redis)
  setmetatable(lr, { __index = H.missing_global })
  load_globals = { redis = protect(lr) }
  setmetatable(load_globals, { __index = H.missing_global })
end

-- Runs a library's body during FUNCTION LOAD (no handler: Redis uses a bare lua_pcall).
local function load_library(chunk)
  return pcall(chunk)
end

return {
  env = env,
  env_mt = env_mt,
  G = G,
  load_globals = load_globals,
  handler = H.handler,
  load_library = load_library,
}
