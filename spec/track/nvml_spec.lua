-- graphids.gpu.nvml and the GPU system metrics through the runtime's NVML loader, against the
-- stand-in driver library build/lib/fake_nvml.so (spec/c/fake_nvml.c: two GPUs with fixed
-- figures).  NVML is opened once per process, so each case runs in a child host.
local gio = require "graphids.io"
local json = require "graphids.json"
local proc = require "trainer.support.proc"
local filestore = require "graphids.track.filestore"
local fixture = require "track.support.fixture"
local skip = require "support.skip"

local FAKE = proc.build_path("lib/fake_nvml.so")

-- Runs src in a child host with the environment env ("NAME=value ..."); its stdout, stderr
-- and exit code.
local function child(dir, src, env)
  local script = gio.join(dir, "child.lua")
  proc.spit(script, "package.path = 'spec/?.lua;' .. package.path\n" .. src)
  local err = gio.join(dir, "child.err")
  local p = io.popen(("cd %s && env -u GIDS_FAKE_NVML_FAIL %s %s run %s 2>%s; echo \"rc=$?\"")
    :format(proc.q(proc.cwd), env, proc.q(proc.host), proc.q(script), proc.q(err)))
  local out = p:read("a")
  p:close()
  return (out:gsub("rc=%d+\n$", "")), proc.slurp(err), tonumber(out:match("rc=(%d+)\n$"))
end

local LIST = [[
local json = require "graphids.json"
local l, why = require("graphids").gpu.nvml()
print(json.encode({ list = l or json.null, why = why or json.null }))
]]

describe("graphids.gpu.nvml", function()
  if skip.unless(gio.exists(FAKE), FAKE .. " is not built (make build)") then return end
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("lists every GPU with its memory, utilisation and power", function()
    local out, err, rc = child(dir, LIST, "GIDS_NVML_LIBRARY=" .. proc.q(FAKE))
    assert.equal(0, rc, err)
    assert.same({ list = {
      { index = 0, memory_used = 10000000000, memory_total = 80000000000, utilization = 30,
        power_mw = 150000, power_limit_mw = 700000 },
      { index = 1, memory_used = 11000000000, memory_total = 80000000000, utilization = 40,
        power_mw = 200000, power_limit_mw = 700000 } }, why = json.null }, json.decode(out))
  end)

  it("names what a GPU refuses, and returns nil and why without a driver", function()
    local out, err, rc = child(dir, LIST, "GIDS_NVML_LIBRARY=" .. proc.q(FAKE) ..
      " GIDS_FAKE_NVML_FAIL=utilization,power GIDS_FAKE_NVML_COUNT=1")
    assert.equal(0, rc, err)
    assert.same({ { index = 0, memory_used = 10000000000, memory_total = 80000000000,
      missing = "utilization: Not Supported; power: Not Supported" } }, json.decode(out).list)
    out, err, rc = child(dir, LIST, "GIDS_NVML_LIBRARY=" .. proc.q(FAKE) .. " GIDS_FAKE_NVML_FAIL=init")
    assert.equal(0, rc, err)
    assert.same({ list = json.null,
      why = "NVML (" .. FAKE .. ") does not initialise: Driver Not Loaded (code 9)" }, json.decode(out))
    out, err, rc = child(dir, LIST, "GIDS_NVML_LIBRARY=" .. proc.q(dir .. "/none.so"))
    assert.equal(0, rc, err)
    assert.matches("^GIDS_NVML_LIBRARY=" .. dir:gsub("%p", "%%%0") .. "/none.so does not load: ",
      json.decode(out).why)
    assert.has_error(function() require("graphids").gpu.nvml(1) end)
  end)

  it("puts every GPU's five system metrics into a CPU fit's MLflow run", function()
    local src = ([[
local T = require "graphids.trainer"
local track = require "graphids.track"
local tiny = require "trainer.support.tiny"
local cb = track.Callback({ run_dir = %q, uri = "file:" .. %q, experiment = "nv", run_name = "r",
  system_metrics_interval = 0.001 })
local tr = T.Trainer({ max_epochs = 1, default_root_dir = %q, progress = "off", callbacks = { cb } })
tr:fit(tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }), tiny.DataModule({ n = 16, batch_size = 8, seed = 2 }))
print(cb.run.key)
]]):format(dir .. "/run", dir .. "/mlruns", dir .. "/run")
    local out, err, rc = child(dir, src, "GIDS_NVML_LIBRARY=" .. proc.q(FAKE))
    assert.equal(0, rc, err)
    assert.is_nil(err:find("warning", 1, true), err)
    local fs = assert(filestore.new(dir .. "/mlruns"))
    local exp = assert(fs:find_experiment("nv"))
    local id = assert(fs:find_run(exp, "graphids.run_key", out:match("^(%S+)")) or nil)
    local base = ("%s/mlruns/%s/%s/metrics/system/"):format(dir, exp, id)
    -- the fake's fixed figures: every sample alike, so every logged step alike
    for name, want in pairs({ gpu_0_memory_usage_percentage = 12.5, gpu_1_memory_usage_megabytes = 11000,
      gpu_0_utilization_percentage = 30, gpu_1_utilization_percentage = 40, gpu_0_power_usage_watts = 150,
      gpu_1_power_usage_percentage = 28.6 }) do
      local text = proc.slurp(base .. name)
      assert.is_not_nil(text, name)
      local n = 0
      for v in text:gmatch("%d+ (%S+) %d+\n") do
        assert.equal(want, tonumber(v), name)
        n = n + 1
      end
      assert.is_true(n >= 2, name) -- at fit start and at least once more
    end
  end)
end)
