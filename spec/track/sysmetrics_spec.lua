-- graphids.track.sysmetrics: MLflow's system/ metric names, units and rounding from fake /proc
-- files, a fake clock and fake disk and GPU readings; deltas for CPU and network; a missing or
-- odd source left out with one warning; the real machine's files read.
local sysmetrics = require "graphids.track.sysmetrics"

local STAT0 = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 100 0 50 800 50 0 0 0 0 0\nintr 1\n"
-- +300 busy (user 200 incl. 40 guest, system 100), +600 idle, +100 iowait, guest counted once
local STAT1 = "cpu  300 0 150 1400 150 0 0 0 40 0\n"
local MEMINFO = "MemTotal:       16000000 kB\nMemFree:         2000000 kB\nMemAvailable:   " ..
  "12000000 kB\nBuffers:          100000 kB\nCached:          3000000 kB\n"
local NET0 = [[
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls
    lo: 1000000 10 0 0 0 0 0 0 1000000 10 0 0 0 0 0 0
  eth0: 5000000 50 0 0 0 0 0 0 2000000 20 0 0 0 0 0 0
]]
local NET1 = [[
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls
    lo: 1500000 10 0 0 0 0 0 0 1500000 10 0 0 0 0 0 0
  eth0: 7500000 50 0 0 0 0 0 0 2250000 20 0 0 0 0 0 0
]]

-- A sampler over files (path under /fake -> text, changed between samples by the test), a clock
-- the test moves, and fake disk and GPU readings.
local function fake(opts)
  local t = { now = 100.0, files = { ["/fake/stat"] = STAT0, ["/fake/meminfo"] = MEMINFO,
    ["/fake/net/dev"] = NET0 }, warnings = {} }
  local o = {
    interval = 5, proc = "/fake", clock = function() return t.now end,
    read = function(p)
      local s = t.files[p]
      if s == nil then return nil, p .. ": No such file or directory" end
      return s
    end,
    disk_usage = function(p)
      t.disk_path = p
      return { total = 1000e6, used = 250e6, free = 700e6 }
    end,
    gpu_memory = function(i)
      t.gpu_index = i
      return { free = 3e9, total = 8e9, allocated = 1, reserved = 2, peak = 3 }
    end,
    -- (a machine without the driver's NVML, unless a test gives one)
    nvml = function() return nil, "no NVML: libnvidia-ml.so.1 does not load" end,
    warn = function(msg) t.warnings[#t.warnings + 1] = msg end,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  t.sampler = sysmetrics.new(o)
  return t
end

describe("graphids.track.sysmetrics", function()
  it("samples at once, then every interval, at steps 0, 1, ... with MLflow's names and units", function()
    local t = fake({ device = "cuda:1" })
    local m, step = t.sampler:poll()
    assert.equal(0, step)
    assert.same({
      ["system/cpu_utilization_percentage"] = 0.0, -- no tick since the baseline: psutil's 0.0
      ["system/system_memory_usage_megabytes"] = 4096.0, -- (16e6 - 12e6) kB * 1024 / 1e6
      ["system/system_memory_usage_percentage"] = 25.0,
      ["system/disk_usage_percentage"] = 26.3, -- 250 / (250 + 700): root's reserve is neither
      ["system/disk_usage_megabytes"] = 250.0,
      ["system/disk_available_megabytes"] = 700.0,
      ["system/network_receive_megabytes"] = 0.0,
      ["system/network_transmit_megabytes"] = 0.0,
      ["system/gpu_1_memory_usage_percentage"] = 62.5,
      ["system/gpu_1_memory_usage_megabytes"] = 5000.0,
    }, m)
    assert.equal("/", t.disk_path)
    assert.equal(1, t.gpu_index)
    t.now = t.now + 4.9
    assert.is_nil(t.sampler:poll())
    t.now = t.now + 0.1
    t.files["/fake/stat"], t.files["/fake/net/dev"] = STAT1, NET1
    m, step = t.sampler:poll()
    assert.equal(1, step)
    -- busy 300 of 1000 (iowait is idle, guest already in user), rounded to one decimal
    assert.equal(30.0, m["system/cpu_utilization_percentage"])
    -- bytes since the sampler was made, every interface, in 1e6 B, not rounded
    assert.equal(3.0, m["system/network_receive_megabytes"])
    assert.equal(0.75, m["system/network_transmit_megabytes"])
    -- without NVML: the CUDA device's memory only, and one warning for the rest
    assert.same({ "system metrics: gpu utilization and power: no NVML: libnvidia-ml.so.1 does not load; " ..
      "its system/ metrics are left out" }, t.warnings)
    -- the next sample comes interval seconds after this one, not after the one before
    t.now = t.now + 7
    assert.equal(2, select(2, t.sampler:poll()))
    t.now = t.now + 4
    assert.is_nil(t.sampler:poll())
  end)

  it("logs samples_before_logging samples as one step, as MLflow: means rounded, network's last", function()
    local used = { 100.4e6, 100.4e6, 101.2e6, 100.0e6 }
    local n = 0
    local t = fake({ device = "cuda:1", samples_before_logging = 3, node_id = "node_0",
      disk_usage = function()
        n = n + 1
        return { total = 1100e6, used = used[n], free = 1000e6 - used[n] }
      end })
    assert.is_nil(t.sampler:poll()) -- at once: the first of three
    t.now = t.now + 5
    t.files["/fake/stat"], t.files["/fake/net/dev"] = STAT1, NET1
    t.files["/fake/meminfo"] = MEMINFO:gsub("MemAvailable:   12000000", "MemAvailable:   11000000")
    assert.is_nil(t.sampler:poll())
    t.now = t.now + 5
    t.files["/fake/stat"] = "cpu  301 0 150 1402 150 0 0 0 40 0\n" -- busy 1 of 3: 33.3
    local m, step = t.sampler:poll()
    assert.equal(0, step)
    -- what MLflow's monitors aggregate for these samples (checked with their aggregate_metrics)
    assert.same({
      ["system/node_0/cpu_utilization_percentage"] = 21.1, -- (0.0 + 30.0 + 33.3) / 3
      ["system/node_0/system_memory_usage_megabytes"] = 4778.7, -- (4096 + 5120 + 5120) / 3
      ["system/node_0/system_memory_usage_percentage"] = 29.2, -- (25 + 31.25 + 31.25) / 3
      -- the mean of psutil's rounded percentages (10.0, 10.0, 10.1), not of 10.04, 10.04, 10.12
      ["system/node_0/disk_usage_percentage"] = 10.0,
      ["system/node_0/disk_usage_megabytes"] = 100.7,
      ["system/node_0/disk_available_megabytes"] = 899.3,
      ["system/node_0/network_receive_megabytes"] = 3.0, -- the last sample's, not a mean
      ["system/node_0/network_transmit_megabytes"] = 0.75,
      ["system/node_0/gpu_1_memory_usage_percentage"] = 62.5,
      ["system/node_0/gpu_1_memory_usage_megabytes"] = 5000.0,
    }, m)
    -- the next step gathers three new samples
    t.now = t.now + 5
    assert.is_nil(t.sampler:poll())
    t.now = t.now + 5
    assert.is_nil(t.sampler:poll())
    t.now = t.now + 5
    assert.equal(1, select(2, t.sampler:poll()))
  end)

  it("names no node for node_id = '', and refuses a bad samples_before_logging or node_id", function()
    local m = fake({ node_id = "" }).sampler:poll()
    assert.equal(25.0, m["system/system_memory_usage_percentage"])
    for _, bad in ipairs({ 0, -1, 1.5 }) do
      assert.has_error(function() sysmetrics.new({ samples_before_logging = bad }) end,
        "sysmetrics: samples_before_logging must be an integer >= 1, got " .. tostring(bad))
    end
    assert.has_error(function() sysmetrics.new({ node_id = "a|b" }) end,
      "sysmetrics: node_id 'a|b' makes metric names MLflow refuses: " ..
      "'system/a|b/cpu_utilization_percentage' holds the character \"|\" (letters, digits, _ . / - : " ..
      "and space)")
    assert.has_error(function() sysmetrics.new({ node_id = "a/" }) end,
      "sysmetrics: node_id 'a/' makes metric names MLflow refuses: " ..
      "'system/a//cpu_utilization_percentage' is not a plain relative path (no leading, trailing or " ..
      "double '/', no '.' or '..' part, no leading '..')")
  end)

  it("logs no GPU metrics for a CPU trainer", function()
    local m = fake({ device = "cpu" }).sampler:poll()
    for k in pairs(m) do assert.is_nil(k:find("gpu", 1, true), k) end
  end)

  it("rounds half to even on the binary value, as Python's round(x, 1)", function()
    assert.equal(0.2, sysmetrics.round1(0.25)) -- an exact tie: to even
    assert.equal(0.3, sysmetrics.round1(0.35)) -- 0.34999... in binary
    assert.equal(0.5, sysmetrics.round1(0.45)) -- 0.45000...01 in binary
  end)

  it("follows each interface: a counter that goes back counts from 0, a new one from 0", function()
    local t = fake()
    t.sampler:poll()
    t.now = t.now + 5
    t.files["/fake/net/dev"] = "  eth0: 1000 0 0 0 0 0 0 0 500 0 0 0 0 0 0 0\n" ..
      "  wg0: 2000 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" -- lo gone, eth0 reset, wg0 new
    local m = t.sampler:poll()
    assert.equal(0.003, m["system/network_receive_megabytes"])
    assert.equal(0.0005, m["system/network_transmit_megabytes"])
  end)

  it("leaves a missing or odd source out with one warning, and samples the rest", function()
    local t = fake({ device = "cuda" })
    t.files["/fake/meminfo"] = "nothing here\n"
    t.files["/fake/net/dev"] = nil
    local m = t.sampler:poll()
    assert.is_nil(m["system/system_memory_usage_megabytes"])
    assert.is_nil(m["system/network_receive_megabytes"])
    assert.equal(26.3, m["system/disk_usage_percentage"])
    assert.equal(62.5, m["system/gpu_0_memory_usage_percentage"])
    assert.equal(3, #t.warnings)
    table.sort(t.warnings)
    assert.matches("system metrics: gpu utilization and power: no NVML: libnvidia-ml.so.1 does not load; " ..
      "its system/ metrics are left out", t.warnings[1], 1, true)
    assert.matches("system metrics: memory: /fake/meminfo: no MemTotal; its system/ metrics are left out",
      t.warnings[2], 1, true)
    assert.matches("system metrics: network: /fake/net/dev: No such file or directory", t.warnings[3], 1,
      true)
    t.now = t.now + 5
    t.sampler:poll()
    assert.equal(3, #t.warnings) -- once each
  end)

  it("never raises for a failing reading: a raising disk or GPU reader is a warning", function()
    local t = fake({ device = "cuda:0", disk_usage = function() return nil, "EIO: disk_usage: '/': gone" end,
      gpu_memory = function() error("gpu.memory: device 0 does not exist (0 CUDA devices)") end })
    t.files["/fake/stat"] = "cpu  x y\n"
    local m = t.sampler:poll()
    assert.is_nil(m["system/disk_usage_percentage"])
    assert.is_nil(m["system/gpu_0_memory_usage_percentage"])
    assert.is_nil(m["system/cpu_utilization_percentage"])
    assert.equal(25.0, m["system/system_memory_usage_percentage"])
    local all = table.concat(t.warnings, "\n")
    assert.matches("disk: EIO: disk_usage: '/': gone", all, 1, true)
    assert.matches("gpu: .*device 0 does not exist", all)
    -- an error a reader raised inside graphids is shown without graphids' own file and line
    -- (the sampler's own reader: no CUDA device 99 on any machine)
    local t2 = fake({ device = "cuda:99", gpu_memory = sysmetrics.OPTIONS.gpu_memory })
    t2.sampler:poll()
    local said = table.concat(t2.warnings, "\n")
    assert.truthy(said:find("system metrics: gpu: gpu.memory: ", 1, true), said)
    assert.is_nil(said:find("sysmetrics.lua", 1, true), said)
    assert.matches("cpu: /fake/stat: 'cpu' line has a field \"x\"", all)
  end)

  it("parses /proc as psutil does, and names what is wrong", function()
    assert.same({ total = 1000, busy = 150 }, sysmetrics.parse_cpu(STAT0))
    assert.same({ nil, "no 'cpu' line" }, { sysmetrics.parse_cpu("intr 1\n") })
    assert.same({ nil, "'cpu' line has 2 fields (at least 4)" }, { sysmetrics.parse_cpu("cpu 1 2\n") })
    -- without MemAvailable (kernels before 3.14): free + buffers + cached (+ SReclaimable)
    local m = sysmetrics.parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n" ..
      "SReclaimable: 1 kB\n")
    assert.same({ total = 102400, available = 36 * 1024 }, m)
    -- available above total (inside some containers): MemFree
    assert.same({ total = 102400, available = 10240 },
      sysmetrics.parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 500 kB\n"))
    assert.same({ nil, "no MemFree" }, { sysmetrics.parse_meminfo("MemTotal: 100 kB\n") })
    local n = sysmetrics.parse_net_dev(NET0)
    assert.same({ lo = { rx = 1000000, tx = 1000000 }, eth0 = { rx = 5000000, tx = 2000000 } }, n)
    assert.same({ nil, "interface 'eth0' has no byte counters" }, { sysmetrics.parse_net_dev("eth0: 1 2\n") })
    assert.same({ nil, "no interface" }, { sysmetrics.parse_net_dev("") })
    assert.equal(0, sysmetrics.cuda_index("cuda"))
    assert.equal(3, sysmetrics.cuda_index("cuda:3"))
    assert.is_nil(sysmetrics.cuda_index("cpu"))
  end)

  it("refuses an interval that is not a number of seconds > 0", function()
    for _, bad in ipairs({ 0, -1, 0 / 0, math.huge }) do
      assert.has_error(function() sysmetrics.new({ interval = bad }) end,
        "sysmetrics: interval must be a number of seconds > 0, got " .. tostring(bad))
    end
  end)

  it("refuses an option it does not take, naming the nearest one, and a value of another type", function()
    assert.has_error(function() sysmetrics.new({ disk_pth = "/data" }) end,
      "sysmetrics: unknown option 'disk_pth' (did you mean 'disk_path'?)")
    assert.has_error(function() sysmetrics.new({ interval = "5" }) end,
      "sysmetrics: option 'interval' must be a number, got '5' (a string)")
    assert.has_error(function() sysmetrics.new({ clock = 3 }) end,
      "sysmetrics: option 'clock' must be a function, got 3")
  end)

  it("reads this machine's /proc and root file system", function()
    local warnings = {}
    local s = sysmetrics.new({ warn = function(msg) warnings[#warnings + 1] = msg end })
    local m = s:poll()
    if io.open("/proc/meminfo") then
      assert.same({}, warnings)
      assert.is_true(m["system/system_memory_usage_percentage"] > 0)
      assert.is_true(m["system/system_memory_usage_percentage"] <= 100)
      assert.is_true(m["system/cpu_utilization_percentage"] >= 0)
      assert.equal(0.0, m["system/network_receive_megabytes"])
    end
    assert.is_true(m["system/disk_usage_megabytes"] > 0)
  end)
  it("logs every GPU NVML lists, with MLflow's five metrics, whatever the trainer's device", function()
    local util = 30
    local t = fake({ device = "cpu", samples_before_logging = 2, nvml = function()
      return { { index = 0, memory_used = 10e9, memory_total = 80e9, utilization = util, power_mw = 150000,
        power_limit_mw = 700000 },
        { index = 1, memory_used = 1e9, memory_total = 3e9, utilization = 0, power_mw = 61234,
          power_limit_mw = 700000 } }
    end })
    assert.is_nil(t.sampler:poll())
    util = 45
    t.now = t.now + 5
    local m, step = t.sampler:poll()
    assert.equal(0, step)
    assert.equal(12.5, m["system/gpu_0_memory_usage_percentage"])
    assert.equal(10000.0, m["system/gpu_0_memory_usage_megabytes"])
    assert.equal(37.5, m["system/gpu_0_utilization_percentage"]) -- the mean of 30 and 45
    assert.equal(150.0, m["system/gpu_0_power_usage_watts"])
    assert.equal(21.4, m["system/gpu_0_power_usage_percentage"]) -- 150 / 700, rounded once
    -- the memory share is rounded per sample (33.3), as MLflow's GPUMonitor does
    assert.equal(33.3, m["system/gpu_1_memory_usage_percentage"])
    assert.equal(61.2, m["system/gpu_1_power_usage_watts"])
    assert.is_nil(t.sampler.gpu_index) -- (the CPU trainer's CUDA device: none)
    assert.same({}, t.warnings)
  end)

  it("leaves out a reading a GPU refuses, with one warning naming the GPU and NVML's reason", function()
    local t = fake({ device = "cuda:0", nvml = function()
      return { { index = 0, memory_used = 4e9, memory_total = 8e9, missing = "utilization: Not Supported; " ..
        "power: Not Supported" }, { index = 1, missing = "nvml_read: device 1: Unknown Error (code 999)" } }
    end })
    local m = t.sampler:poll()
    assert.equal(50.0, m["system/gpu_0_memory_usage_percentage"])
    assert.is_nil(m["system/gpu_0_utilization_percentage"])
    assert.is_nil(m["system/gpu_0_power_usage_watts"])
    for k in pairs(m) do assert.is_nil(k:find("gpu_1", 1, true), k) end
    table.sort(t.warnings)
    assert.same({
      "system metrics: gpu 0: utilization: Not Supported; power: Not Supported; " ..
        "those readings are left out",
      "system metrics: gpu 1: nvml_read: device 1: Unknown Error (code 999); " ..
        "those readings are left out",
    }, t.warnings)
    t.now = t.now + 5
    t.sampler:poll()
    assert.equal(2, #t.warnings) -- once each
  end)

  it("takes the trainer's CUDA memory when NVML raises, and says so once", function()
    local t = fake({ device = "cuda", nvml = function() error("nvml exploded") end })
    local m = t.sampler:poll()
    assert.equal(62.5, m["system/gpu_0_memory_usage_percentage"])
    assert.equal(1, #t.warnings)
    assert.matches("gpu utilization and power: .*nvml exploded", t.warnings[1])
  end)
end)
