-- exports_spec.lua -- the shared objects export the C API and the Lua entry point only
-- (runtime/exports.map), and so do the static library and the host binary: an internal name such
-- as l_error, promoted to the process's global scope with core.so, would hijack or be hijacked by
-- a host's or another module's symbol of the same name (found by an embedding audit: a host's own
-- l_error turned a raised error into a wrong result).  And the plugins still find the gids_* they
-- need from a plain lua5.4.
local skip = require "skip"
local env = require "specenv"

local build = os.getenv("GRAPHIDS_BUILD") or "build"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, rc = p:close()
  return out, ok and 0 or rc
end

describe("the shared objects' exports", function()
  if skip.unless(select(2, sh("command -v nm >/dev/null 2>&1")) == 0, "nm (binutils) is not installed") then
    return
  end

  it("are gids_* and luaopen_graphids_core only", function()
    for _, so in ipairs({ build .. "/lua/graphids/core.so", build .. "/lib/libgraphids.so" }) do
      local out, rc = sh("nm -D --defined-only " .. env.quote(so))
      assert.equal(0, rc, so)
      local n, stray = 0, {}
      for name in out:gmatch("%S+ %a (%S+)\n") do
        n = n + 1
        if not (name:match("^gids_") or name == "luaopen_graphids_core") then stray[#stray + 1] = name end
      end
      assert.is_true(n > 100, so .. " exports " .. n .. " symbols")
      assert.same({}, stray, so)
    end
  end)

  it("leave gids_* as the only global names of the static library and the host", function()
    -- the archive is one prelinked object (Makefile, LIB_A); the host links the exports map too,
    -- so -Wl,-E (the plugins' gids_*) exports nothing else: a C module a recipe requires cannot
    -- have its own l_error or can_* bound to the host's
    for _, c in ipairs({ { build .. "/lib/libgraphids.a", "nm -g --defined-only " },
      { build .. "/bin/graphids", "nm -D --defined-only " } }) do
      local out, rc = sh(c[2] .. env.quote(c[1]))
      assert.equal(0, rc, c[1])
      local n, stray = 0, {}
      for name in out:gmatch("%S+ %a (%S+)\n") do
        n = n + 1
        if not (name:match("^gids_") or name == "luaopen_graphids_core") then stray[#stray + 1] = name end
      end
      assert.is_true(n > 100, c[1] .. " defines " .. n .. " global symbols")
      assert.same({}, stray, c[1])
    end
  end)

  it("still serve the device plugin to a plain lua5.4", function()
    local plugin = build .. "/lib/graphids_loopback.so"
    if skip.unless(os.execute("test -e " .. env.quote(plugin)), plugin .. " is not built") then return end
    local abs = plugin:sub(1, 1) == "/" and plugin or io.popen("pwd"):read("l") .. "/" .. plugin
    local cmd = table.concat({
      "GIDS_CUDA_PLUGIN=" .. env.quote(abs),
      "LUA_PATH='stdlib/?.lua;stdlib/?/init.lua;;'",
      "LUA_CPATH=" .. env.quote(build .. "/lua/?.so;;"),
      "lua5.4 -e 'local g = require \"graphids\"; io.write((g.ones(2, 3):cuda() * 2):sum():item())' 2>&1",
    }, " ")
    local out, rc = sh(cmd)
    assert.equal(0, rc, out)
    assert.equal(12, tonumber(out))
  end)
end)
