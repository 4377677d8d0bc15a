-- install_spec.lua -- `make install PREFIX=<tmpdir>` gives the standard Lua 5.4 layout: a stock
-- lua5.4 with that prefix's LUA_PATH / LUA_CPATH can require "graphids", the installed host
-- works from any directory, and a C program builds against it with pkg-config.
local build = os.getenv("GRAPHIDS_BUILD") or "build"
local root = io.popen("pwd"):read("l")
if build:sub(1, #root + 1) == root .. "/" then
  build = build:sub(#root + 2) -- make sees the same targets as the build that made them
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a command line; returns its combined output and exit code.
local function sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  return out:gsub("rc=%d+\n$", ""), rc
end

describe("make install", function()
  local prefix = os.tmpname()
  os.remove(prefix)
  prefix = prefix .. "-gids-install"
  local lua_env = ("LUA_PATH=%s LUA_CPATH=%s"):format(
    q(prefix .. "/share/lua/5.4/?.lua;" .. prefix .. "/share/lua/5.4/?/init.lua;;"),
    q(prefix .. "/lib/lua/5.4/?.so;;"))

  setup(function()
    local out, rc = sh(("make --no-print-directory install PREFIX=%s BUILD=%s"):format(q(prefix), q(build)))
    assert(rc == 0, "make install failed:\n" .. out)
  end)

  teardown(function()
    os.execute("rm -rf " .. q(prefix))
  end)

  it("lays out the files", function()
    for _, f in ipairs({ "share/lua/5.4/graphids/init.lua", "share/lua/5.4/graphids/repl.lua",
      "lib/lua/5.4/graphids/core.so", "bin/graphids", "include/gids/graphids.h",
      "include/gids/tensor.h", "lib/libgraphids.a", "lib/libgraphids.so", "lib/pkgconfig/graphids.pc" }) do
      assert.is_truthy(io.open(prefix .. "/" .. f, "rb"), f .. " is missing")
    end
  end)

  it("lets a stock lua5.4 require graphids and compute", function()
    local code = [[
local g = require "graphids"
local a = g.arange(6):view(2, 3):t():contiguous()
print(g.__version, a.dtype, table.concat(a:view(6):totable(), ","))
print(package.searchpath("graphids.core", package.cpath))
]]
    local out, rc = sh(("cd / && %s lua5.4 -e %s"):format(lua_env, q(code)))
    assert.are.equal(0, rc, out)
    assert.matches("^%d+%.%d+%.%d+\ti64\t0,3,1,4,2,5\n", out)
    assert.matches(prefix .. "/lib/lua/5.4/graphids/core.so", out, 1, true)
  end)

  it("installs a host that finds its stdlib from another directory", function()
    local code = "print(graphids.ones(2, 2):totable()[2][1], package.searchpath('graphids', package.path))"
    local out, rc = sh(("cd / && env -u LUA_PATH -u GRAPHIDS_STDLIB %s/bin/graphids -e %s"):format(
      q(prefix), q(code)))
    assert.are.equal(0, rc, out)
    assert.are.equal("1.0\t" .. prefix .. "/share/lua/5.4/graphids/init.lua\n", out)
    local v = sh(("cd / && %s/bin/graphids version"):format(q(prefix)))
    assert.matches("stdlib: " .. prefix .. "/share/lua/5.4", v, 1, true)
    assert.matches("CUDA plugin: ", v, 1, true)
  end)

  it("installs a host that never falls back to the source tree's stdlib", function()
    -- the installed binary copied alone elsewhere (or its share/ removed): no stdlib beside it,
    -- and the checkout it was built from must not stand in (it may hold another version)
    local other = prefix .. "-copy"
    assert(sh(("mkdir -p %s/bin && cp %s/bin/graphids %s/bin/"):format(q(other), q(prefix), q(other))))
    local v = sh(("cd / && env -u GRAPHIDS_STDLIB %s/bin/graphids version"):format(q(other)))
    os.execute("rm -rf " .. q(other))
    assert.matches("stdlib: the graphids stdlib was not found beside " .. other .. "/bin", v, 1, true)
    assert.not_matches(root .. "/stdlib", v, 1, true)
  end)

  it("installs the recipes where the installed library finds them", function()
    assert.is_truthy(io.open(prefix .. "/share/graphids/recipes/datasets.lua", "rb"))
    local code = "print(require('graphids.paths').recipes_root(), " ..
      "require('graphids.config.recipe').find('stages/gat.lua'))"
    local out, rc = sh(("cd / && env -u GRAPHIDS_RECIPES %s/bin/graphids -e %s"):format(q(prefix), q(code)))
    assert.are.equal(0, rc, out)
    local recipes = prefix .. "/share/graphids/recipes"
    assert.are.equal(recipes .. "\t" .. recipes .. "/stages/gat.lua\n", out)
  end)

  it("installs a pkg-config file a C program can build with", function()
    local src = prefix .. "/t.c"
    local f = assert(io.open(src, "w"))
    f:write([[
#include <stdio.h>
#include <gids/graphids.h>
int main(void) {
    gids_tensor *t = NULL;
    int64_t shape[1] = {4};
    if (gids_ones(&t, GIDS_F64, GIDS_DEVICE_CPU, 1, shape) != GIDS_OK) return 1;
    printf("%s %lld\n", gids_version(), (long long)gids_tensor_numel(t));
    gids_tensor_release(t);
    return 0;
}
]])
    f:close()
    local pc = "PKG_CONFIG_PATH=" .. q(prefix .. "/lib/pkgconfig")
    local cmd = "cc -o %s/t %s $(%s pkg-config --cflags --libs graphids) && LD_LIBRARY_PATH=%s %s/t"
    local out, rc = sh(cmd:format(q(prefix), q(src), pc, q(prefix .. "/lib"), q(prefix)))
    assert.are.equal(0, rc, out)
    assert.matches("^%d+%.%d+%.%d+ 4\n$", out)
  end)

  it("uninstalls everything it installed", function()
    local out, rc = sh(("make --no-print-directory uninstall PREFIX=%s BUILD=%s"):format(q(prefix), q(build)))
    assert(rc == 0, "make uninstall failed:\n" .. out)
    local left = sh("find " .. q(prefix) .. " ! -type d ! -name 't.c' ! -name t")
    assert.equal("", left)
  end)
end)

describe("a build directory outside the source tree", function()
  local tmp = os.tmpname()
  os.remove(tmp)
  tmp = tmp .. "-gids-build"
  local abs_build = build:sub(1, 1) == "/" and build or root .. "/" .. build

  teardown(function()
    os.execute("rm -rf " .. q(tmp))
  end)

  it("finds the stdlib of the tree it was built from, and a copy of its binary does not", function()
    -- only the host's own object is compiled there: the rest links to this build's objects
    local b = tmp .. "/build"
    local from = q(abs_build)
    local link = table.concat({
      ("mkdir -p %s/obj/lua/host %s/lib"):format(q(b), q(b)),
      ("ln -s %s/obj/runtime %s/obj/runtime"):format(from, q(b)),
      ("ln -s %s/obj/lua/src %s/obj/lua/src"):format(from, q(b)),
      ("ln -s %s/lib/libgraphids.a %s/lib/"):format(from, q(b)),
      ("for o in %s/obj/lua/host/*.o; do [ \"${o##*/}\" = host.o ] || ln -s \"$o\" %s/obj/lua/host/; done")
        :format(from, q(b)),
    }, " && ")
    local out, rc = sh(link)
    assert.are.equal(0, rc, out)
    out, rc = sh(("make --no-print-directory BUILD=%s %s/bin/graphids"):format(q(b), q(b)))
    assert.are.equal(0, rc, out)
    local v = sh(("cd / && env -u GRAPHIDS_STDLIB %s/bin/graphids version"):format(q(b)))
    assert.matches("stdlib: " .. root .. "/stdlib\n", v, 1, true)
    out, rc = sh(("mkdir -p %s/elsewhere/bin && cp %s/bin/graphids %s/elsewhere/bin/ && cd / && " ..
      "env -u GRAPHIDS_STDLIB %s/elsewhere/bin/graphids -e 'print(1)'"):format(q(tmp), q(b), q(tmp), q(tmp)))
    assert.are.equal(1, rc, out)
    assert.matches("the graphids stdlib was not found beside " .. tmp .. "/elsewhere/bin", out, 1, true)
  end)
end)
