-- headers_spec.lua -- every public header (runtime/include/gids/*.h) compiles on its own, as C11
-- and as C++17, warning-free under -pedantic: an embedding program includes only what it uses,
-- in either language (compound literals, which C++ lacks, once warned there).
local skip = require "skip"
local env = require "specenv"
local proc = require "trainer.support.proc"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function headers()
  local out = sh("ls runtime/include/gids/*.h")
  local list = {}
  for path in out:gmatch("[^\n]+") do list[#list + 1] = path:match("include/(.*)$") end
  table.sort(list)
  return list
end

describe("the public headers", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  for _, c in ipairs({ { "cc", "-std=c11", "c" }, { "g++", "-std=c++17", "cc" } }) do
    it("compile one by one with " .. c[1] .. " " .. c[2] .. " -pedantic -Werror", function()
      if skip.unless(select(2, sh("command -v " .. c[1])), c[1] .. " is not installed") then return end
      local list = headers()
      assert.is_true(#list > 10, "found " .. #list .. " headers")
      for _, h in ipairs(list) do
        local src = tmp .. "/one." .. c[3]
        local f = assert(io.open(src, "w"))
        -- (the macros are used too: GIDS_DEVICE_CPU has a C++ form of its own)
        f:write("#include <" .. h .. ">\nint main(void) {\n#ifdef GIDS_DEVICE_CPU\n" ..
          "  gids_device d = GIDS_DEVICE_CPU;\n  (void)d;\n#endif\n  return 0;\n}\n")
        f:close()
        local out, ok = sh(table.concat({ c[1], c[2], "-pedantic -Wall -Wextra -Werror -Iruntime/include -c",
          env.quote(src), "-o", env.quote(tmp .. "/one.o") }, " "))
        assert.is_true(ok, h .. ":\n" .. out)
      end
    end)
  end
end)
