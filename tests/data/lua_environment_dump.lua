-- Walks the script environment (every table reachable from _G and the string metatable) and
-- returns one line per key, per table and per attempt to change it: what
-- tests/conformance_differential.rs compares between redis-server and Ferrous.
local seen, out = {}, {}
local function desc(v)
  local t = type(v)
  if t == 'string' or t == 'number' or t == 'boolean' then return t .. '=' .. tostring(v) end
  return t
end
local function try(name, what, f, ...)
  local ok, e = pcall(f, ...)
  out[#out + 1] = name .. ' ' .. what .. ': ' .. tostring(ok) .. (ok and '' or ' ' .. tostring(e))
end
local function probe(name, t)
  if seen[t] then out[#out + 1] = name .. ' (seen)' return end
  seen[t] = true
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v, rv = t[k], rawget(t, k)
    out[#out + 1] = name .. '.' .. k .. ' ' .. desc(v) .. (rawequal(v, rv) and '' or ' rawget=' .. desc(rv))
  end
  local n, k = 0, next(t)
  while k ~= nil do n = n + 1; k = next(t, k) end
  out[#out + 1] = name .. ' keys=' .. #keys .. ' next=' .. n .. ' len=' .. #t
  local mt = getmetatable(t)
  out[#out + 1] = name .. ' metatable ' .. desc(mt)
  try(name, 'assign new', function() t.__probe = 1 end)
  try(name, 'rawset new', rawset, t, '__probe', 1)
  try(name, 'setmetatable', setmetatable, t, {})
  try(name, 'insert', table.insert, t, 1)
  if keys[1] then try(name, 'assign existing', function() t[keys[1]] = t[keys[1]] end) end
  if type(mt) == 'table' then probe(name .. '<mt>', mt) end
  for _, key in ipairs(keys) do
    local v = t[key]
    if type(v) == 'table' then probe(name .. '.' .. key, v) end
  end
end
probe('_G', _G)
probe('<string mt>', getmetatable(''))
return out
