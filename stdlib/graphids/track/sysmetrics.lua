-- graphids.track.sysmetrics -- the system metrics MLflow's monitor logs for a run
-- (mlflow/system_metrics: CPU, memory, disk, network, GPU), sampled from the trainer's hooks.
--   local sysmetrics = require "graphids.track.sysmetrics"
--   local s = sysmetrics.new{interval = 5, device = "cuda:0"}   -- baselines taken now
--   local metrics, step = s:poll()   -- {["system/cpu_utilization_percentage"] = 12.5, ...}, 0
--                                    -- when interval seconds have passed since the last sample
--                                    -- (the first poll samples at once) and that sample makes
--                                    -- samples_before_logging of them; else nil
-- Names, units and rounding are MLflow's (3.x): every samples_before_logging samples (default 1)
-- are logged as one, at steps 0, 1, 2, ..., each metric the mean of its values rounded to one
-- decimal, the network ones the last sample's, not rounded; with node_id the names are
-- system/<node_id>/<name>.  Per sample (as psutil gives them; CPU, disk and GPU percentages
-- rounded to one decimal before the mean):
--   cpu_utilization_percentage       busy share of all CPUs since the previous sample (/proc/stat,
--                                    as psutil.cpu_percent: iowait is idle, guest time is in user)
--   system_memory_usage_megabytes    MemTotal - MemAvailable (psutil's virtual_memory().used), 1e6 B
--   system_memory_usage_percentage   that used / MemTotal * 100
--   disk_usage_percentage            of the file system holding "/" (psutil.disk_usage: used /
--   disk_usage_megabytes             (used + free), free being what a user may write; root's
--   disk_available_megabytes         reserve is neither)
--   network_receive_megabytes        bytes of every interface (lo included) since the sampler
--   network_transmit_megabytes       was made (/proc/net/dev), 1e6 B
--   gpu_<i>_memory_usage_percentage  every GPU i of the machine, as NVML numbers them
--   gpu_<i>_memory_usage_megabytes   (graphids.gpu.nvml, the driver's figures, pynvml's for
--   gpu_<i>_utilization_percentage   MLflow): used / total memory (every process's), 1e6 B;
--   gpu_<i>_power_usage_watts        the share of the last sample period a kernel ran; power
--   gpu_<i>_power_usage_percentage   drawn, and its share of the enforced limit.  Without NVML
--                                    (no driver), only the memory ones, and only for the
--                                    trainer's CUDA device i (graphids.gpu.memory: total - free)
-- Departure, documented in docs/tracking.md: no thread (samples come from the trainer's hooks,
-- so none during one long batch or validation pass).
-- Every source is read defensively: one that is missing or unreadable leaves its metrics out
-- with one warning (opts.warn), and a sample never raises.
-- opts (all optional; the fakes are for specs; checked by graphids.nn._util.options against
-- M.OPTIONS): interval (seconds > 0, default 5), clock (monotonic seconds, default
-- graphids.clock), read(path) -> text | nil, why (default: the file's contents),
-- disk_usage(path) -> {total, used, free} | nil, why (graphids.disk_usage), nvml() -> the
-- machine's GPUs | nil, why (graphids.gpu.nvml), gpu_memory(index) -> {free, total}
-- (graphids.gpu.memory), device ("cpu", "cuda", "cuda:N"), proc ("/proc"),
-- disk_path ("/"), warn(message) (default: stderr), step (first step, 0),
-- samples_before_logging (samples averaged into each logged step, 1), node_id (a name for this
-- machine in the metric names; "" is none).
local core = require "graphids.core"
local U = require "graphids.nn._util"

local M = {}

M.DEFAULT_INTERVAL = 5
M.PREFIX = "system/"

-- Python's round(x, 1): the exact binary value rounded half to even, as glibc's printf does.
local function round1(x)
  return tonumber(string.format("%.1f", x))
end
M.round1 = round1

-- {total =, busy =} clock ticks of all CPUs from /proc/stat's "cpu" line, as psutil counts
-- them: guest time is already in user and nice, and iowait is idle.
function M.parse_cpu(text)
  local line = text and text:match("^cpu%s+([^\n]*)") or nil
  if not line then return nil, "no 'cpu' line" end
  local v = {}
  for n in line:gmatch("%S+") do
    local x = math.tointeger(tonumber(n))
    if x == nil or x < 0 then return nil, string.format("'cpu' line has a field %q", n) end
    v[#v + 1] = x
  end
  if #v < 4 then return nil, string.format("'cpu' line has %d fields (at least 4)", #v) end
  local total = 0
  for i = 1, math.min(#v, 8) do total = total + v[i] end -- user .. steal; 9, 10 are guest
  return { total = total, busy = total - v[4] - (v[5] or 0) }
end

-- {total =, available =} bytes from /proc/meminfo.  Without MemAvailable (kernels before 3.14),
-- or with 0 there, available is MemFree + Buffers + Cached + SReclaimable (what psutil used
-- before); one above total (inside some containers) is MemFree, as psutil takes it.
function M.parse_meminfo(text)
  local kb = {}
  for name, n in (text or ""):gmatch("([%w_()]+):%s*(%d+)") do kb[name] = tonumber(n) end
  if not kb.MemTotal or kb.MemTotal <= 0 then return nil, "no MemTotal" end
  if not kb.MemFree then return nil, "no MemFree" end
  local avail = kb.MemAvailable
  if avail == nil or avail == 0 then
    avail = kb.MemFree + (kb.Buffers or 0) + (kb.Cached or 0) + (kb.SReclaimable or 0)
  end
  if avail > kb.MemTotal then avail = kb.MemFree end
  return { total = kb.MemTotal * 1024, available = avail * 1024 }
end

-- {[interface] = {rx =, tx =}} byte counters from /proc/net/dev (the name is what stands
-- before a line's last ':', as psutil reads it).
function M.parse_net_dev(text)
  local out, n = {}, 0
  for line in (text or ""):gmatch("[^\n]+") do
    local name, rest = line:match("^%s*(.-):([^:]*)$")
    if name and name ~= "" and not name:find("|", 1, true) then
      local f = {}
      for x in rest:gmatch("%S+") do f[#f + 1] = x end
      local rx, tx = math.tointeger(tonumber(f[1])), math.tointeger(tonumber(f[9]))
      if rx == nil or tx == nil then
        return nil, string.format("interface '%s' has no byte counters", name)
      end
      out[name], n = { rx = rx, tx = tx }, n + 1
    end
  end
  if n == 0 then return nil, "no interface" end
  return out
end

-- The CUDA index of a trainer device ("cuda" -> 0, "cuda:N" -> N), nil for another device
-- (graphids.trainer.device's).
M.cuda_index = require("graphids.trainer.device").cuda_index

local function read_file(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  if not text then return nil, path .. ": cannot be read" end
  return text
end

local function default_gpu_memory(index)
  return require("graphids").gpu.memory(index)
end

local function default_nvml()
  return require("graphids").gpu.nvml()
end

local function default_warn(msg)
  io.stderr:write("graphids: warning: ", msg, "\n")
end

-- The options a sampler takes, with their defaults (graphids.nn._util.options: an unknown key
-- is refused with the nearest name, a value of another type is refused).
M.OPTIONS = {
  interval = M.DEFAULT_INTERVAL, clock = core.clock, read = read_file, disk_usage = core.disk_usage,
  gpu_memory = default_gpu_memory, nvml = default_nvml, device = U.NONE, proc = "/proc", disk_path = "/",
  warn = default_warn,
  step = 0, samples_before_logging = 1, node_id = U.NONE,
}

-- Whether v is a samples_before_logging a sampler takes: an integer >= 1.
function M.valid_samples(v)
  return math.type(v) == "integer" and v >= 1
end

-- Why MLflow would refuse the metric names that node_id makes (a key character it does not
-- take, a '/' that leaves an empty path part, ...), or nil.
function M.node_id_problem(node_id)
  if type(node_id) ~= "string" then return "must be a string, got " .. type(node_id) end
  if node_id == "" then return nil end
  -- the first name for a character MLflow refuses, the longest for its length limit (a GPU's
  -- index of up to 99 counted: gpu_99_memory_usage_percentage)
  for _, tail in ipairs({ "cpu_utilization_percentage", "gpu_99_memory_usage_percentage",
    "system_memory_usage_percentage" }) do
    local name = M.PREFIX .. node_id .. "/" .. tail
    local problem = require("graphids.track.mlflow").key_problem(name)
    if problem then return string.format("makes metric names MLflow refuses: '%s' %s", name, problem) end
  end
  return nil
end

-- Whether v is an interval a sampler takes: a finite number of seconds > 0.
function M.valid_interval(v)
  return type(v) == "number" and v == v and v > 0 and v ~= math.huge
end

local Sampler = {}
Sampler.__index = Sampler
Sampler.__name = "graphids.track.sysmetrics.Sampler"

function M.new(opts)
  opts = U.options("sysmetrics", opts, M.OPTIONS)
  local interval = opts.interval
  if not M.valid_interval(interval) then
    error("sysmetrics: interval must be a number of seconds > 0, got " .. tostring(interval), 2)
  end
  if not M.valid_samples(opts.samples_before_logging) then
    error("sysmetrics: samples_before_logging must be an integer >= 1, got " ..
      tostring(opts.samples_before_logging), 2)
  end
  local bad_node = opts.node_id ~= nil and M.node_id_problem(opts.node_id)
  if bad_node then error(string.format("sysmetrics: node_id '%s' %s", opts.node_id, bad_node), 2) end
  local self = setmetatable({
    interval = interval,
    samples = opts.samples_before_logging,
    prefix = M.PREFIX .. ((opts.node_id or "") ~= "" and opts.node_id .. "/" or ""),
    acc = {}, -- name -> {sum =, n =}: the samples of the step being gathered
    latest = {}, -- name -> value: the metrics that are not averaged (network)
    gathered = 0,
    clock = opts.clock,
    read = opts.read,
    disk_usage = opts.disk_usage,
    gpu_memory = opts.gpu_memory,
    nvml = opts.nvml,
    gpu_index = M.cuda_index(opts.device),
    proc = opts.proc,
    disk_path = opts.disk_path,
    warn = opts.warn,
    step = opts.step,
    warned = {},
    net = {},
  }, Sampler)
  self.cpu = self:_source("cpu", "/stat", M.parse_cpu)
  self:_network() -- the baseline: network metrics count from now
  return self
end

-- One warning per source for the sampler's life; the source's metrics are left out.
-- One warning per source: why its metrics are left out (left_out: which ones, when not all of
-- the source's), without a position inside graphids' own modules (an error a reader raised).
function Sampler:_warn(source, why, left_out)
  if self.warned[source] then return end
  self.warned[source] = true
  self.warn(string.format("system metrics: %s: %s; %s", source,
    require("graphids.errors").strip_own_position(why), left_out or "its system/ metrics are left out"))
end

-- parse(read(proc .. file)), or nil after a warning.
function Sampler:_source(source, file, parse)
  local path = self.proc .. file
  local text, err = self.read(path)
  if not text then return self:_warn(source, err or (path .. ": cannot be read")) end
  local v, why = parse(text)
  if not v then return self:_warn(source, path .. ": " .. tostring(why)) end
  return v
end

function Sampler:_cpu(out)
  local now = self:_source("cpu", "/stat", M.parse_cpu)
  if not now then return end
  local prev = self.cpu or now
  self.cpu = now
  local all, busy = now.total - prev.total, now.busy - prev.busy
  -- (a counter that went back, or no tick since the last sample: psutil says 0.0 then too)
  local pct = all > 0 and math.max(0, math.min(1, busy / all)) * 100 or 0.0
  out.cpu_utilization_percentage = round1(pct) -- (psutil rounds it)
end

function Sampler:_memory(out)
  local m = self:_source("memory", "/meminfo", M.parse_meminfo)
  if not m then return end
  local used = m.total - m.available
  out.system_memory_usage_megabytes = used / 1e6
  out.system_memory_usage_percentage = used / m.total * 100
end

function Sampler:_disk(out)
  local ok, d, why = pcall(self.disk_usage, self.disk_path)
  if not ok or type(d) ~= "table" then return self:_warn("disk", ok and why or d) end
  local room = d.used + d.free
  out.disk_usage_percentage = round1(room > 0 and d.used / room * 100 or 0.0) -- (psutil rounds it)
  out.disk_usage_megabytes = d.used / 1e6
  out.disk_available_megabytes = d.free / 1e6
end

-- Bytes received and sent since the sampler was made, over every interface.  Each interface's
-- counter is followed on its own: one that goes back (a wrap, an interface made again) counts
-- from 0 again, one that appears later counts from 0, one that goes away keeps what it had.
function Sampler:_network(out)
  local ifs = self:_source("network", "/net/dev", M.parse_net_dev)
  if not ifs then return end
  if not self.net_total then
    self.net_total = { rx = 0, tx = 0 }
    for name, c in pairs(ifs) do self.net[name] = c end
    return
  end
  for name, c in pairs(ifs) do
    local last = self.net[name] or { rx = 0, tx = 0 }
    for _, k in ipairs({ "rx", "tx" }) do
      local d = c[k] - last[k]
      self.net_total[k] = self.net_total[k] + (d >= 0 and d or c[k])
    end
    self.net[name] = c
  end
  if out then
    -- (the latest value, not a mean: MLflow's network monitor keeps no list)
    self.latest.network_receive_megabytes = self.net_total.rx / 1e6
    self.latest.network_transmit_megabytes = self.net_total.tx / 1e6
  end
end

-- MLflow's GPU metrics of every device NVML lists, as its GPUMonitor takes them (the memory
-- share rounded per sample, the rest as read); a reading a device refuses is left out with one
-- warning.  Without NVML, the memory of the trainer's CUDA device.
function Sampler:_gpu(out)
  local ok, gpus, why = pcall(self.nvml)
  if ok and type(gpus) == "table" then
    for _, g in ipairs(gpus) do
      local p = string.format("gpu_%d_", g.index)
      if g.memory_total and g.memory_total > 0 and g.memory_used then
        out[p .. "memory_usage_percentage"] = round1(g.memory_used / g.memory_total * 100)
        out[p .. "memory_usage_megabytes"] = g.memory_used / 1e6
      end
      if g.utilization then out[p .. "utilization_percentage"] = g.utilization end
      if g.power_mw and g.power_limit_mw and g.power_limit_mw > 0 then
        out[p .. "power_usage_watts"] = g.power_mw / 1000
        out[p .. "power_usage_percentage"] = g.power_mw / g.power_limit_mw * 100
      end
      -- (the readings the device gave are logged: only the refused ones are left out)
      if g.missing then self:_warn("gpu " .. g.index, g.missing, "those readings are left out") end
    end
    return
  end
  local i = self.gpu_index
  if i == nil then return end
  -- a CUDA trainer on a machine whose driver gives no NVML: say what is not logged
  self:_warn("gpu utilization and power", ok and (why or "NVML gave no devices") or gpus)
  local read, m = pcall(self.gpu_memory, i)
  if not read or type(m) ~= "table" or not (tonumber(m.total) and m.total > 0) or not tonumber(m.free) then
    return self:_warn("gpu", read and "no memory figures for device " .. i or m)
  end
  local used = m.total - m.free
  local p = string.format("gpu_%d_", i)
  out[p .. "memory_usage_percentage"] = round1(used / m.total * 100) -- (MLflow rounds it)
  out[p .. "memory_usage_megabytes"] = used / 1e6
end

-- One sample now.  When it completes samples_before_logging of them: {["system/<name>"] =
-- value} and the step they are logged at (each metric the mean of the values it had in them,
-- rounded; a source missing from some samples is the mean of the others, as MLflow's lists
-- are); else nil.  Never raises.
function Sampler:sample()
  local out = {}
  for _, f in ipairs({ "_cpu", "_memory", "_disk", "_network", "_gpu" }) do
    local ok, err = pcall(self[f], self, out)
    if not ok then self:_warn(f:sub(2), err) end
  end
  self.last = self.clock()
  for k, v in pairs(out) do
    local a = self.acc[k] or { sum = 0, n = 0 }
    a.sum, a.n = a.sum + v, a.n + 1 -- (in sample order, as Python's sum)
    self.acc[k] = a
  end
  self.gathered = self.gathered + 1
  if self.gathered < self.samples then return nil end
  local metrics = {}
  for k, a in pairs(self.acc) do metrics[self.prefix .. k] = round1(a.sum / a.n) end
  for k, v in pairs(self.latest) do metrics[self.prefix .. k] = v end
  self.acc, self.latest, self.gathered = {}, {}, 0
  local step = self.step
  self.step = step + 1
  return metrics, step
end

-- A sample when interval seconds have passed since the last one (the first poll samples at
-- once, as MLflow's monitor does when it starts), and what sample() returns for it; nil
-- otherwise.
function Sampler:poll()
  if self.last ~= nil and self.clock() - self.last < self.interval then return nil end
  return self:sample()
end

M.Sampler = Sampler

return M
