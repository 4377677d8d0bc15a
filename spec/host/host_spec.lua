-- host_spec.lua -- the `graphids` program: -e, run with arguments, version, exit codes, the
-- REPL driven through a pipe (and through a terminal when python3's pexpect is there), and
-- the Lua side of the REPL (graphids.repl: value display, Tab candidates).
local skip = require "skip"

local build = os.getenv("GRAPHIDS_BUILD") or "build"
local host = build .. "/bin/graphids"
local cwd = io.popen("pwd"):read("l")
if host:sub(1, 1) ~= "/" then
  host = cwd .. "/" .. host
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then
    return ""
  end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a shell command line; returns stdout, stderr, exit code.  `input` goes to stdin.
local function sh(cmd, input)
  local err = os.tmpname()
  local inp = os.tmpname()
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local p = io.popen(("%s <%s 2>%s; echo \"rc=$?\""):format(cmd, q(inp), q(err)))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  out = out:gsub("rc=%d+\n$", "")
  local e = slurp(err)
  os.remove(err)
  os.remove(inp)
  return out, e, rc
end

local function graphids(args, input)
  return sh(q(host) .. " " .. args, input)
end

local function tmpfile(content)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(content)
  f:close()
  return path
end

describe("graphids host", function()
  it("exists at BUILD/bin/graphids", function()
    assert.is_true(io.open(host, "rb") ~= nil, host .. " is missing")
  end)

  describe("-e CODE", function()
    it("runs the chunk with the global graphids preset", function()
      local out, err,
        rc = graphids("-e " .. q("print(graphids.arange(6):view(2, 3):t():contiguous():totable()[3][2])"))
      assert.are.equal("5\n", out)
      assert.are.equal("", err)
      assert.are.equal(0, rc)
    end)

    it("passes extra words as arg and ...", function()
      local out, _, rc = graphids("-e " .. q("print(arg[0], arg[1], select('#', ...), ...)") .. " a 'b c'")
      assert.are.equal(0, rc)
      assert.are.equal("print(arg[0], arg[1], select('#', ...), ...)\ta\t2\ta\tb c\n", out)
    end)

    it("exits 1 with a traceback on an error", function()
      local out, err, rc = graphids("-e " .. q("local function f() error('boom') end f()"))
      assert.are.equal(1, rc)
      assert.are.equal("", out)
      assert.matches("boom", err)
      assert.matches("stack traceback:", err)
    end)

    it("reports a syntax error with exit 1", function()
      local _, err, rc = graphids("-e " .. q("x = = 1"))
      assert.are.equal(1, rc)
      assert.matches("unexpected symbol", err)
    end)

    it("turns a runtime error into the runtime's message", function()
      local _, err, rc = graphids("-e " .. q("graphids.zeros(2, 3):view(5)"))
      assert.are.equal(1, rc)
      assert.matches("view: shape %[5%] is invalid for a tensor of 6 elements", err)
    end)
  end)

  describe("OpenMP's waiting", function()
    -- libgomp reads its environment when it is loaded, so the program sets GOMP_SPINCOUNT and
    -- executes itself again (lua/host/omp_env.c); a script, its arguments and its stdin are the
    -- same in the second run.
    local probe = q("print(os.getenv('GOMP_SPINCOUNT'), os.getenv('OMP_WAIT_POLICY'), ...)")
    it("spins 10000 iterations unless OMP_WAIT_POLICY or GOMP_SPINCOUNT says otherwise", function()
      local out, err, rc = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " .. q(host) .. " -e " ..
        probe .. " a 'b c'")
      assert.are.equal("", err)
      assert.are.equal(0, rc)
      assert.are.equal("10000\tnil\ta\tb c\n", out)
      out = sh("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=PASSIVE " .. q(host) .. " -e " .. probe)
      assert.are.equal("nil\tPASSIVE\n", out)
      out = sh("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=7 " .. q(host) .. " -e " .. probe)
      assert.are.equal("7\tnil\n", out)
      out = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " .. q(host) .. " run - x",
        "print(os.getenv('GOMP_SPINCOUNT'), ...)\n")
      assert.are.equal("10000\tx\n", out) -- the script read from stdin after the second start
    end)

    it("prints libgomp's warning for a bad OMP_NUM_THREADS once, and keeps the value and stderr", function()
      local out, err, rc = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_NUM_THREADS=abc " .. q(host) ..
        " -e " .. q("print(os.getenv('OMP_NUM_THREADS'), os.getenv('GRAPHIDS_REEXEC_STDERR')) " ..
        "io.stderr:write('script says\\n')"))
      assert.are.equal(0, rc, err)
      assert.are.equal("abc\tnil\n", out)
      local _, warnings = err:gsub("Invalid value for environment variable OMP_NUM_THREADS", "")
      assert.are.equal(1, warnings, err)
      assert.matches("script says\n$", err)
    end)

    it("keeps the program's name after the second start (not /proc/self/exe's 'exe')", function()
      local out, err, rc = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " .. q(host) .. " -e " ..
        q("print(io.open('/proc/self/comm'):read('l'))"))
      assert.are.equal(0, rc, err)
      assert.are.equal("graphids\n", out)
      -- The name is the executed file's, as the kernel gave the first start: not argv[0]'s.
      for _, argv0 in ipairs({ "", "foo/", "python3" }) do
        out, err, rc = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c " ..
          q("exec -a " .. q(argv0) .. " " .. q(host) .. " -e " ..
            q("print(io.open('/proc/self/comm'):read('l'))")))
        assert.are.equal(0, rc, err)
        assert.are.equal("graphids\n", out, "argv[0] = '" .. argv0 .. "'")
      end
      -- with stderr closed too, and the variable that carries the name is not left behind
      out, err, rc = sh("(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " .. q(host) .. " -e " ..
        q("print(io.open('/proc/self/comm'):read('l'), os.getenv('GRAPHIDS_REEXEC_NAME'))") .. " 2>&-)")
      assert.are.equal(0, rc, err)
      assert.are.equal("graphids\tnil\n", out)
    end)

    -- Under valgrind /proc/self/exe is valgrind's tool, not the program: executing it again
    -- ran nothing (exit 1, nothing printed), so valgrind checked nothing.  Valgrind preloads its
    -- vgpreload_core library; with one in LD_PRELOAD the program starts once, as it is.
    it("does not execute itself again when valgrind's preload library is in LD_PRELOAD", function()
      local lib = io.popen("ldd " .. q(host) .. " | awk '$3 ~ /^\\// { print $3; exit }'"):read("l")
      assert.is_truthy(lib, "ldd names no library of " .. host)
      local dir = os.tmpname()
      os.remove(dir)
      assert.is_true(os.execute("mkdir " .. q(dir) .. " && ln -s " .. q(lib) .. " " ..
        q(dir .. "/vgpreload_core-probe.so")))
      local out, err, rc = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT LD_PRELOAD=" ..
        q(dir .. "/vgpreload_core-probe.so") .. " " .. q(host) .. " -e " .. probe .. " a")
      os.execute("rm -r " .. q(dir))
      assert.are.equal("", err)
      assert.are.equal(0, rc)
      assert.are.equal("nil\tnil\ta\n", out)
    end)

    it("runs the program itself under valgrind, which then sees its allocations", function()
      local has_valgrind = os.execute("command -v valgrind >/dev/null 2>&1")
      if skip.unless(has_valgrind, "valgrind is not installed") then
        return
      end
      local out, err, rc = sh("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT valgrind --error-exitcode=9 " ..
        q(host) .. " -e " .. q("print('checked', os.getenv('GOMP_SPINCOUNT'))"))
      assert.are.equal(0, rc, err)
      assert.are.equal("checked\tnil\n", out)
      local allocs = err:match("total heap usage: ([%d,]+) allocs")
      assert.is_truthy(allocs, err)
      assert.is_true(tonumber((allocs:gsub(",", ""))) > 1000, err)
      assert.matches("ERROR SUMMARY: 0 errors", err)
    end)
  end)

  describe("run FILE", function()
    it("runs a script with arg and ... as lua5.4 does, from any directory", function()
      local path = tmpfile([[
local graphids = require "graphids"
print(arg[0] == ... and "same" or "args", select("#", ...), arg[1], arg[2], arg[-1])
print(graphids.tensor({{1, 2}, {3, 4}}):t():totable()[1][2])
]])
      local out, err, rc = sh("cd / && " .. q(host) .. " run " .. q(path) .. " x 'y z'")
      os.remove(path)
      assert.are.equal("", err)
      assert.are.equal(0, rc)
      assert.are.equal("args\t2\tx\ty z\trun\n3\n", out)
    end)

    it("exits 1 with a traceback when the script fails", function()
      local path = tmpfile("local function inner() error('script failed') end\ninner()\n")
      local out, err, rc = graphids("run " .. q(path))
      os.remove(path)
      assert.are.equal(1, rc)
      assert.are.equal("", out)
      assert.matches("script failed", err)
      assert.matches("stack traceback:.*in local 'inner'", err)
    end)

    it("exits 1 when the file cannot be read", function()
      local _, err, rc = graphids("run /nonexistent/x.lua")
      assert.are.equal(1, rc)
      assert.matches("cannot open /nonexistent/x.lua", err)
    end)

    it("keeps the exit code of os.exit", function()
      local _, _, rc = graphids("run -", "os.exit(3)")
      assert.are.equal(3, rc)
    end)
  end)

  describe("version and help", function()
    it("prints graphids, Lua, BLAS, threads and their waiting, stdlib and the CUDA plugin state", function()
      local out, err, rc = graphids("version")
      assert.are.equal(0, rc)
      assert.are.equal("", err)
      assert.matches("^graphids %d+%.%d+%.%d+\n", out)
      assert.matches("\nLua: Lua 5%.4", out)
      assert.matches("\nBLAS: %S+", out)
      assert.matches("\nthreads: %d+", out)
      -- make test runs with OMP_WAIT_POLICY=PASSIVE (tools/run-tests.sh) or the caller's setting
      assert.matches("\nwaiting threads: OMP_WAIT_POLICY=%S+ GOMP_SPINCOUNT=%S+\n", out)
      assert.matches("\nstdlib: /%S+", out)
      local cuda = out:match("\nCUDA plugin: ([^\n]+)")
      assert.is_truthy(cuda)
      -- loaded (path and device count), or why not: no plugin in this build, or no GPU for it
      assert.is_truthy(cuda:match("^/%S+graphids_cuda%.so %(%d+ devices?%)$")
        or cuda:match("^not available: no CUDA plugin: graphids_cuda%.so is not beside")
        or cuda:match("^not available: the CUDA plugin %S+ found no usable GPU: "), cuda)
    end)

    it("help prints the commands, as --help after run, version, gpu and gpu info does", function()
      local out, _, rc = graphids("help")
      assert.are.equal(0, rc)
      assert.matches("run FILE%.lua", out)
      assert.matches("%-e CODE", out)
      -- the thread switches a user on a shared machine reaches for
      assert.matches("OMP_NUM_THREADS sets the CPU threads", out)
      assert.matches("GRAPHIDS_ADAPTIVE_THREADS=0 keeps every parallel region on all its threads", out)
      for _, args in ipairs({ "run --help", "version --help", "gpu --help", "gpu -h", "gpu info --help" }) do
        local o, err, code = graphids(args)
        assert.are.equal(0, code, args .. ": " .. err)
        assert.are.equal(out, o, args)
      end
    end)

    it("names a GRAPHIDS_STDLIB without the stdlib, not an unknown command", function()
      local env = "GRAPHIDS_STDLIB=/nonexistent/stdlib "
      local want = "the stdlib at $GRAPHIDS_STDLIB (/nonexistent/stdlib) was not found: it has no " ..
        "graphids/init.lua"
      local out, err, rc = sh(env .. q(host) .. " runs list")
      assert.are.same({ "", "graphids: runs: " .. want .. "\n", 1 }, { out, err, rc })
      out, err, rc = sh(env .. q(host) .. " -e 1")
      assert.are.same({ "", "graphids: " .. want .. "\n", 1 }, { out, err, rc })
      -- the REPL too: that line alone (no list of the places graphids.repl was looked for), and
      -- no session that runs its entries without graphids
      out, err, rc = sh(env .. q(host), "print('ran')\n")
      assert.are.same({ "", "graphids: " .. want .. "\n", 1 }, { out, err, rc })
      out, err, rc = sh(env .. q(host) .. " version")
      assert.are.equal(0, rc, err)
      assert.truthy(out:find("\nstdlib: " .. want .. "\n", 1, true), out)
    end)
  end)

  it("gpu info exits 1 for a GIDS_CUDA_PLUGIN that does not load, 0 on a machine without a GPU", function()
    local out, err, rc = sh("GIDS_CUDA_PLUGIN=/nonexistent/plugin.so " .. q(host) .. " gpu info")
    assert.are.same({ "", 1 }, { out, rc })
    assert.matches("^graphids: gpu info: GIDS_CUDA_PLUGIN=/nonexistent/plugin.so does not load", err)
    -- a long setting (named twice: by the message and by the loader's own) keeps the reason at
    -- the end (once cut at 1 KiB)
    local deep = "/nonexistent" .. string.rep("/" .. string.rep("d", 200), 19) .. "/plugin.so"
    out, err, rc = sh("GIDS_CUDA_PLUGIN=" .. deep .. " " .. q(host) .. " gpu info")
    assert.are.same({ "", 1 }, { out, rc })
    local head = "graphids: gpu info: GIDS_CUDA_PLUGIN=" .. deep .. " does not load"
    assert.are.equal(head, err:sub(1, #head))
    assert.truthy(err:find("No such file or directory\n$"), err:sub(-100))
    -- a library that is no plugin (no entry point) is a broken setting too
    out, err, rc = sh("GIDS_CUDA_PLUGIN=" .. q(host:gsub("bin/graphids$", "lib/libgraphids.so")) .. " " ..
      q(host) .. " gpu info")
    assert.are.equal(1, rc, out)
    assert.matches("has no entry point", err)
  end)

  it("looks for the CUDA plugin beside the program's file, never in the current directory", function()
    -- run by name from PATH (glibc's dladdr names the main program by its argv[0], "graphids")
    -- and through a symbolic link, from a folder holding a planted graphids_cuda.so: a real
    -- library that loads (the runtime's own, which has no plugin entry point), so that loading it
    -- would be named in `version` ("<dir>/graphids_cuda.so has no entry point")
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir)))
    local lib = host:gsub("bin/graphids$", "lib/libgraphids.so")
    assert(os.execute("cp " .. q(lib) .. " " .. q(dir .. "/graphids_cuda.so")))
    assert(os.execute("ln -s " .. q(host) .. " " .. q(dir .. "/gl")))
    -- (the planted copy is taken when named outright: the check itself can see it)
    local out = sh("GIDS_CUDA_PLUGIN=" .. q(dir .. "/graphids_cuda.so") .. " " .. q(host) .. " version")
    assert.truthy(out:find(dir .. "/graphids_cuda.so has no entry point", 1, true), out)
    local bin = host:match("^(.*)/graphids$")
    for _, cmd in ipairs({ "PATH=" .. q(bin) .. ":\"$PATH\" graphids version", "./gl version" }) do
      local err, rc
      out, err, rc = sh("cd " .. q(dir) .. " && unset GIDS_CUDA_PLUGIN && " .. cmd)
      assert.are.equal(0, rc, err)
      assert.is_nil(out:find(dir, 1, true), cmd .. ": " .. out)
      assert.truthy(out:find("CUDA plugin: ", 1, true), out)
    end
    os.execute("rm -rf " .. q(dir))
  end)

  it("finds the CUDA plugin beside a program in a deep folder; a place past PATH_MAX is named", function()
    -- a copy of the program and a planted library (no entry point) in a folder whose name is
    -- longer than any fixed buffer short of PATH_MAX: the plugin is found there (a name cut to
    -- 2 KiB was looked for in another folder), and the message names the whole path
    local root = os.tmpname()
    os.remove(root)
    finally(function() os.execute("rm -rf " .. q(root)) end)
    local function deep(len)
      local d = root
      while #d < len - 252 do
        d = d .. "/" .. string.rep("d", 250)
      end
      return d .. "/" .. string.rep("e", len - #d - 1)
    end
    local lib = host:gsub("bin/graphids$", "lib/libgraphids.so")
    local dir = deep(2900)
    assert(os.execute("mkdir -p " .. q(dir) .. " && cp " .. q(host) .. " " .. q(dir .. "/graphids")
      .. " && cp " .. q(lib) .. " " .. q(dir .. "/graphids_cuda.so")))
    local out, err, rc = sh("unset GIDS_CUDA_PLUGIN && " .. q(dir .. "/graphids") .. " version")
    assert.are.equal(0, rc, err)
    local want = "\nCUDA plugin: not available: " .. dir .. "/graphids_cuda.so has no entry point "
    assert.truthy(out:find(want, 1, true), out:match("CUDA plugin: [^\n]*"))
    -- the program's folder fits PATH_MAX (4096 with its NUL) but the plugin's place beside it
    -- does not: refused, naming the place and the limit, rather than searched for elsewhere
    dir = deep(4085)
    assert(os.execute("mkdir -p " .. q(dir) .. " && cp " .. q(host) .. " " .. q(dir .. "/graphids")))
    out, err, rc = sh("unset GIDS_CUDA_PLUGIN && " .. q(dir .. "/graphids") .. " version")
    assert.are.equal(0, rc, err)
    want = "\nCUDA plugin: not available: the CUDA plugin's place " .. dir .. "/graphids_cuda.so is longer "
      .. "than the system's path limit (PATH_MAX, 4096 bytes)\n"
    assert.truthy(out:find(want, 1, true), out:match("CUDA plugin: [^\n]*"))
  end)

  describe("bad command lines", function()
    local cases = {
      { "frobnicate", "unknown command 'frobnicate'" },
      { "--bogus", "unknown option '%-%-bogus'\n" },
      -- options get a hint too; letters swapped count one edit, and case does not count
      { "--versoin", "unknown option '%-%-versoin' %(did you mean '%-%-version'%?%)" },
      { "--hlep", "unknown option '%-%-hlep' %(did you mean '%-%-help'%?%)" },
      { "hepl", "unknown command 'hepl' %(did you mean 'help'%?%)" },
      { "RUN a.lua", "unknown command 'RUN' %(did you mean 'run'%?%)" },
      { "Fit", "unknown command 'Fit' %(did you mean 'fit'%?%)" },
      { "run", "run: missing FILE%.lua" },
      { "-e", "%-e: missing CODE" },
      { "version extra", "version takes no arguments, got 'extra'" },
      { "gpu info extra", "gpu info takes no arguments, got 'extra'" },
      { "gpu inof", "gpu: unknown subcommand 'inof' %(expected 'gpu info'%)" },
      { "fitt", "unknown command 'fitt' %(did you mean 'fit'%?%)" },
      { "pipelin", "unknown command 'pipelin' %(did you mean 'pipeline'%?%)" },
    }
    for _, c in ipairs(cases) do
      it("'" .. c[1] .. "' exits 2 with a message and the usage", function()
        local out, err, rc = graphids(c[1])
        assert.are.equal(2, rc)
        assert.are.equal("", out)
        assert.matches("^graphids: " .. c[2], err)
        assert.matches("usage: graphids", err)
      end)
    end
  end)

  describe("REPL through a pipe", function()
    it("prints expression values and runs statements", function()
      local out, err, rc = graphids("", table.concat({
        "1 + 1",
        "x = graphids.arange(4):view(2, 2)",
        "x",
        "x.shape",
        "'text', 3",
        "{a = 1, 2}",
        "=x.shape[1] * 10", -- lua.c's "=expr"
        "",
      }, "\n"))
      assert.are.equal(0, rc)
      assert.are.equal("", err)
      assert.are.equal("2\n[[0, 1],\n [2, 3]]\n[graphids.Tensor i64 2x2]\n{2, 2}\ntext\t3\n{2, a = 1}\n" ..
        "20\n", out)
    end)

    it("sets the global arg as lua5.4 does without a script: arg[0] is the program", function()
      local out, err, rc = graphids("", "arg[0], #arg, arg[-1]\n")
      assert.are.equal(0, rc, err)
      assert.are.equal(host .. "\t0\tnil\n", out)
    end)

    it("continues incomplete statements and expressions on the next lines", function()
      local out, _, rc = graphids("", table.concat({
        "for i = 1, 3 do",
        "  io.write(i * 10, ' ')",
        "end",
        "print()",
        "math.max(1,",
        "  7, 3)",
        "function f(a)",
        "  return a * 2",
        "end",
        "f(21)",
        "",
      }, "\n"))
      assert.are.equal(0, rc)
      assert.are.equal("10 20 30 \n7\n42\n", out)
    end)

    it("prints strings with NUL bytes whole", function()
      local out, err, rc = graphids("", "'a\\0b', 'c'\n")
      assert.are.equal(0, rc, err)
      assert.are.equal("a\0b\tc\n", out)
    end)

    it("exits 1 when showing a value failed, as when running an entry failed", function()
      local bad = "setmetatable({}, {__tostring = function() error('no show') end})\n"
      local out, err, rc = graphids("", bad .. "print('still here')\n")
      assert.are.equal(1, rc)
      -- the entry's error, as lua5.4 -i reports it ("error calling 'print' (...)"), with no
      -- traceback into the REPL's own display code
      assert.are.equal("graphids: error showing the value (stdin:1: no show)\n", err)
      assert.are.equal("still here\n", out)
    end)

    it("shows a table it cannot read as lua5.4 does, and goes on", function()
      local out, err, rc = graphids("", table.concat({
        "setmetatable({}, {__len = function() return 'x' end})",
        "setmetatable({}, {__index = function() error('idx') end, __len = function() return 1 end})",
        "{1, setmetatable({}, {__pairs = function() error('no pairs') end, __name = 'P'})}",
        "{setmetatable({}, {__tostring = function() error('inner') end})}",
        "",
      }, "\n"))
      assert.are.equal(0, rc, err)
      assert.are.equal("", err)
      assert.matches("^table: 0x%x+\ntable: 0x%x+\n{1, P: 0x%x+}\ntable: 0x%x+\n$", out)
    end)

    it("shows values without graphids.repl too, a raising __tostring reported (it aborted)", function()
      -- a stdlib without repl.lua: every other module linked in from the real one
      local dir = os.tmpname() .. ".stdlib"
      assert(os.execute("mkdir -p " .. q(dir .. "/graphids") .. " && for f in stdlib/graphids/*; do " ..
        "[ \"$(basename $f)\" = repl.lua ] || ln -s \"$PWD/$f\" " .. q(dir .. "/graphids") .. "/; done"))
      local bad = "setmetatable({}, {__tostring = function() error('no show') end})\n"
      local out, err, rc = sh("GRAPHIDS_STDLIB=" .. q(dir) .. " " .. q(host), bad .. "1, 'a'\n")
      os.execute("rm -rf " .. q(dir))
      assert.are.equal(1, rc, err)
      assert.matches("REPL helpers unavailable", err)
      assert.matches("graphids: error showing the value %(stdin:1: no show%)\n", err)
      assert.is_falsy(err:find("traceback", 1, true))
      assert.are.equal("1\ta\n", out)
    end)

    it("reports an error and keeps going, then exits 1 so a script's caller sees it", function()
      local out, err, rc = graphids("", "error('first')\nprint('still here')\n")
      assert.are.equal(1, rc)
      assert.matches("first", err)
      assert.are.equal("still here\n", out)
      -- input cut short inside an entry is an error too, not a clean end
      out, err, rc = graphids("", "x = 1\nfor i = 1, 3 do\n")
      assert.are.equal(1, rc)
      assert.matches("the input ended inside an unfinished entry", err)
      assert.are.equal("", out)
    end)
  end)

  describe("REPL in a terminal", function()
    local has_pexpect = os.execute("python3 -c 'import pexpect' >/dev/null 2>&1")
    it("completes with Tab, cancels a line and interrupts a loop with Ctrl-C", function()
      if skip.unless(has_pexpect, "python3 with pexpect is not available to drive a terminal") then
        return
      end
      local hist = os.tmpname()
      local out, err, rc = sh(("GRAPHIDS_HISTORY=%s python3 spec/host/repl_pty.py %s"):format(q(hist),
        q(host)))
      assert.are.equal("", err)
      assert.are.equal(0, rc, out)
      assert.matches("ok", out)
      local h = slurp(hist)
      os.remove(hist)
      assert.matches("t:numel%(%)", h)
      assert.matches("'alive'", h)
      assert.matches('s = "a\\\nb"', h)
      assert.is_falsy(h:find("cancelled", 1, true))
    end)

    it("raises an interrupt again when the code running catches it and goes on", function()
      -- the stdlib guards many calls with pcall (tracking turns an error into a warning): one
      -- Ctrl-C must still stop a fit, so the interrupt comes back after a grace period
      local code = "local n, t0 = 0, os.time(); while os.time() - t0 < 10 do " ..
        "local ok = pcall(function() for _ = 1, 1e5 do end end); " ..
        "if not ok then n = n + 1; io.stderr:write('caught ', n, '\\n') end; if n >= 2 then break end end"
      local out = sh(("(%s -e %s 2>&1 & P=$!; sleep 0.5; kill -INT $P; wait $P; echo \"rc_host=$?\")"):format(
        q(host), q(code)))
      -- one press: caught once, raised again after the grace period and caught again (the loop
      -- stops itself after two, so no fourth press is needed)
      assert.matches("caught 1\ncaught 2\nrc_host=0", out)
    end)

    it("survives a second Ctrl-C in a long C call (it says so) and quits on the fourth", function()
      if skip.unless(has_pexpect, "python3 with pexpect is not available to drive a terminal") then
        return
      end
      local out, err, rc = sh(("GRAPHIDS_HISTORY= python3 spec/host/repl_sigint_pty.py %s"):format(q(host)))
      assert.are.equal("", err)
      assert.are.equal(0, rc, out)
      assert.matches("ok", out)
    end)
  end)
end)

describe("graphids.repl", function()
  local repl = require "graphids.repl"
  local core = require "graphids"

  it("shows strings raw at the top and quoted inside tables", function()
    assert.are.equal("hi\t1\t2.5\tnil", repl.show("hi", 1, 2.5, nil))
    assert.are.equal('{"hi", true}', repl.show({ "hi", true }))
  end)

  it("shows tables with sorted keys, nested, cycles marked", function()
    local t = { 1, 2, z = 1, a = { b = 2 }, [10] = "x" }
    assert.are.equal('{1, 2, [10] = "x", a = {b = 2}, z = 1}', repl.show(t))
    local c = {}
    c.self = c
    assert.are.equal("{self = <cycle>}", repl.show(c))
    local long = {}
    for i = 1, 30 do
      long[i] = i * 1000
    end
    assert.matches("^{\n  1000,\n  2000,", repl.show(long))
  end)

  it("shows keyword keys bracketed, as Lua reads them back", function()
    local t = { ["end"] = 4, ["and"] = 1, ending = 2 }
    assert.are.equal('{["and"] = 1, ["end"] = 4, ending = 2}', repl.show(t))
    assert.are.same(t, load("return " .. repl.show(t))())
    -- and t.end does not parse either: a keyword field is not offered after "t."
    assert.are.same({ "tbl.ending" }, repl.complete("tbl.en", { tbl = t }))
  end)

  it("sorts keys numbers first, then strings, then the other types by name", function()
    local t = { [true] = 1, [false] = 0, b = 2, [3] = 3, [1.5] = 4, a = 5 }
    assert.are.equal("{[1.5] = 4, [3] = 3, a = 5, b = 2, [false] = 0, [true] = 1}", repl.show(t))
  end)

  it("shows the first max_items keys of a big table in order without sorting them all", function()
    local calls = 0
    local mt = { __tostring = function(s)
      calls = calls + 1
      return string.format("k%06d", s.i)
    end }
    local t = {}
    for i = 10000, 1, -1 do
      t[setmetatable({ i = i }, mt)] = i
    end
    local shown = repl.show(t)
    assert.matches("^{\n  %[k000001%] = 1,\n  %[k000002%] = 2,\n", shown)
    assert.matches("\n  %[k000100%] = 100,\n  %.%.%.\n}$", shown)
    -- sorting all 10 000 keys compares (and so names) each key about 28 times
    assert.is_true(calls < 40000, calls .. " __tostring calls")
    local mixed = { "a", "b", z = 1, y = 2, [10] = 3, [2.5] = 4 }
    repl.max_items = 4
    local ok, res = pcall(repl.show, mixed)
    repl.max_items = 100
    assert(ok, res)
    assert.are.equal('{"a", "b", [2.5] = 4, [10] = 3, ...}', res)
  end)

  it("never fails: an unreadable table shows as table: 0x..., a raising __tostring is an error", function()
    local badlen = setmetatable({}, { __len = function() return "x" end })
    assert.are.equal(("table: %p"):format(badlen), repl.show(badlen))
    local named = setmetatable({}, { __index = function() error("idx") end, __len = function() return 2 end,
      __name = "Thing", __metatable = false })
    assert.are.equal(("Thing: %p"):format(named), repl.show(named))
    assert.are.equal(("1\ttable: %p"):format(badlen), repl.show(1, badlen))
    local s, err = repl.show(1, setmetatable({}, { __tostring = function() error({}) end }))
    assert.is_nil(s)
    assert.are.equal("error showing the value (error object is a table value)", err)
    s, err = repl.show(setmetatable({}, { __tostring = function() error("boom", 0) end }))
    assert.is_nil(s)
    assert.are.equal("error showing the value (boom)", err)
  end)

  it("shows tensors in full at the top and by their summary line inside tables", function()
    local t = core.zeros(2)
    assert.are.equal(tostring(t), repl.show(t))
    assert.are.equal("{x = [graphids.Tensor f32 2]}", repl.show({ x = t }))
    -- several values, one of them on several lines (a tensor's values, then its summary):
    -- each on its own line, not a tab running the next into the summary
    local m = core.zeros(2, 2)
    assert.are.equal(tostring(m) .. "\n" .. tostring(t) .. "\n5", repl.show(m, t, 5))
    assert.are.equal("1\t{}\tx", repl.show(1, {}, "x"))
  end)

  it("completes globals, keywords, fields and Tensor methods", function()
    local env = { graphids = core, t = core.zeros(1), string = string, s = "x", tbl = { alpha = 1,
      beta = 2 } }
    assert.are.same({ "graphids.zeros", "graphids.zeros_like" }, repl.complete("graphids.zeros", env))
    assert.are.same({ "t:numel" }, repl.complete("t:nume", env))
    assert.are.same({ "t.shape" }, repl.complete("t.sh", env))
    assert.are.same({}, repl.complete("t:sh", env))
    assert.are.same({ "t.device" }, repl.complete("t.dev", env))
    assert.are.same({ "t.dtype" }, repl.complete("t.dty", env))
    assert.are.same({ "tbl.alpha" }, repl.complete("tbl.a", env))
    assert.are.same({ "s:upper" }, repl.complete("s:upp", env))
    assert.are.same({ "tbl", "then", "true" }, repl.complete("t", { tbl = 1 }))
    assert.are.same({}, repl.complete("nothing.here", env))
    assert.are.same({}, repl.complete("tbl..x", env))
    -- a class whose __index is a function (Sequential's integer indexing) and its subclasses
    local nn, class = require "graphids.nn", require "graphids.class"
    local MySeq = class("MySeq", nn.Sequential)
    function MySeq.hello() end
    local mods = { ms = MySeq(nn.Linear(2, 2)), s = nn.Sequential(nn.Linear(2, 2)),
      ml = nn.ModuleList({ nn.Linear(1, 1) }) }
    assert.are.same({ "ms:parameters" }, repl.complete("ms:para", mods))
    assert.are.same({ "ms:hello" }, repl.complete("ms:hel", mods))
    assert.are.same({ "s:parameters" }, repl.complete("s:para", mods))
    assert.are.same({ "ml:append", "ml:apply" }, repl.complete("ml:app", mods))
  end)

  -- graphids, graphids.data and graphids.models resolve names through an __index function; a
  -- fresh process, so nothing is loaded yet whatever ran before in this one.
  it("completes the names that load on first use, listing them without loading them", function()
    local code = [[
      local r = require "graphids.repl"
      local function has(text, want)
        for _, c in ipairs(r.complete(text)) do
          if c == want then return "" end
        end
        return " " .. want .. " missing"
      end
      local lazy = { "nn", "optim", "data", "models", "io", "json", "metrics", "amp" }
      local out = {}
      for _, name in ipairs(lazy) do
        out[#out + 1] = has("graphids." .. name:sub(1, 2), "graphids." .. name)
      end
      out[#out + 1] = has("graphids.models.", "graphids.models.GATClassifier")
      out[#out + 1] = has("graphids.models.", "graphids.models.VGAE")
      out[#out + 1] = has("graphids.models.pre", "graphids.models.presets")
      out[#out + 1] = #r.complete("graphids.models.los") == 0 and "" or " losses offered"
      -- listing names loads none of them ...
      for _, name in ipairs(lazy) do
        if name ~= "models" and package.loaded["graphids." .. name] then
          out[#out + 1] = " graphids." .. name .. " loaded"
        end
      end
      for _, m in ipairs({ "graphids.models.gat", "graphids.models.vgae", "graphids.models.presets" }) do
        if package.loaded[m] then out[#out + 1] = " " .. m .. " loaded" end
      end
      -- ... except graphids.data's, which only its areas know
      out[#out + 1] = has("graphids.data.read_c", "graphids.data.read_can")
      out[#out + 1] = has("graphids.data.Graph", "graphids.data.GraphDataModule")
      io.write(table.concat(out))
    ]]
    local out, err, rc = graphids("-e " .. q(code))
    assert.are.equal("", err)
    assert.are.equal(0, rc)
    assert.are.equal("", out)
  end)

  it("offers the identifiers a metatable's __names lists, and its own keys if __names raises", function()
    local listed = setmetatable({ own = 1 }, { __names = function(t)
      assert(t.own == 1)
      return { "lazy", "end", 3, "other" }
    end })
    assert.are.same({ "t.lazy", "t.other", "t.own" }, repl.complete("t.", { t = listed }))
    local broken = setmetatable({ own = 1 }, { __names = function() error("boom") end })
    assert.are.same({ "t.own" }, repl.complete("t.", { t = broken }))
    local not_list = setmetatable({ own = 1 }, { __names = function() return "lazy" end })
    assert.are.same({ "t.own" }, repl.complete("t.", { t = not_list }))
  end)
end)
