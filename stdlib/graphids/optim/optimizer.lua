-- optim/optimizer.lua -- the Optimizer base class: parameter groups, per-parameter state,
-- zero_grad, step and state dicts, as torch.optim.Optimizer.
--
--   local opt = graphids.optim.AdamW(model:parameters(), { lr = 1e-2 })
--   local opt = graphids.optim.SGD({ { params = body, lr = 0.1 }, { params = head } },
--                                  { lr = 0.01, momentum = 0.9 })
--   opt:zero_grad(); loss:backward(); opt:step()
--   local sd = opt:state_dict()        -- a snapshot: hyper-parameters and copies of the state
--   opt:load_state_dict(sd)            -- resumes bit-identically
--
-- A subclass sets, on its class table:
--   HYPER        the ordered list of hyper-parameter names (the allowed option keys)
--   DEFAULTS     their default values
--   STATE_KEYS   the ordered list of per-parameter state keys (tensors, or "step" a count)
--   _check_group(group, fname)  raises for a bad hyper-parameter value; fname prefixes the
--                               message ("AdamW" or "AdamW: param group 2"); at every step,
--                               load and construction
--   _check_new_group(group, fname)  (optional) raises for a rule that holds only for the values
--                               a user gives (constructor options, a group given), not for
--                               those a scheduler or a checkpoint sets later
--   _update(group)              one step of the group's parameters that have a grad
-- Optimizer.__init(self, params, opts) checks the options and builds the groups.
--
-- State dicts follow torch's layout with Lua's 1-based positions: sd.state[i] is the state of
-- the i-th parameter counting through the groups in order, and sd.param_groups[g] holds the
-- group's hyper-parameters with `params` a list of those positions.
local graphids = require "graphids"
local class = require "graphids.class"
local util = require "graphids.optim.util"

local raise = util.raise

local Optimizer = class("Optimizer")

Optimizer.HYPER = { "lr" }
Optimizer.DEFAULTS = { lr = 1e-3 }
Optimizer.STATE_KEYS = {}

-- Keys a group may hold besides its hyper-parameters, set by the schedulers and saved with the
-- groups as torch does: the starting lr, and OneCycleLR's bounds of the lr and the momentum.
local EXTRA_GROUP_KEYS = { "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum" }

-- Raises unless every extra key of group is absent or a finite number.
local function check_extras(group, fname)
  for _, k in ipairs(EXTRA_GROUP_KEYS) do
    if group[k] ~= nil then util.number(fname, k, group[k]) end
  end
end

local function group_keys(self)
  local keys = { "params" }
  for _, k in ipairs(self.HYPER) do keys[#keys + 1] = k end
  for _, k in ipairs(EXTRA_GROUP_KEYS) do keys[#keys + 1] = k end
  return keys
end

local function is_group_list(params)
  return type(params[1]) == "table" and not graphids.is_tensor(params[1])
end

-- The name that prefixes messages about a group: "AdamW", or "AdamW: param group 2" (at is
-- "" or "param group 2: ").
local function where(self, at)
  return at == "" and self.__name or self.__name .. ": " .. at:sub(1, -3)
end

function Optimizer:__init(params, opts)
  local name = self.__name
  util.check_options(name, opts, self.HYPER)
  local defaults = {}
  for _, k in ipairs(self.HYPER) do
    local v = opts and opts[k]
    if v == nil then v = self.DEFAULTS[k] end
    defaults[k] = util.copy(v)
  end
  self:_check_group(defaults, name)
  self:_check_new_group(defaults, name)
  self.defaults = defaults
  self.state = {}
  self.param_groups = {}
  if graphids.is_tensor(params) then
    raise(name .. ": params must be a list of tensors or of param groups ({params=..., lr=...}), " ..
      "got a single tensor; wrap it in a list: {t}")
  end
  if type(params) ~= "table" then
    raise(string.format("%s: params must be a list of tensors or of param groups, got %s", name,
      util.describe(params)))
  end
  if #params == 0 and type(params.parameters) == "function" then
    raise(name .. ": params is a module; pass its parameters: " .. name .. "(module:parameters(), ...)")
  end
  if #params == 0 then raise(name .. ": optimizer got an empty parameter list") end
  if is_group_list(params) then
    for i = 1, #params do
      if type(params[i]) ~= "table" or graphids.is_tensor(params[i]) then
        raise(string.format("%s: params[%d] is %s, expected a param group table like the others",
          name, i, util.describe(params[i])))
      end
      self:_add_group(params[i], string.format("param group %d: ", i))
    end
  else
    self:_add_group({ params = params }, "")
  end
end

local function shape_str(t)
  return "[" .. table.concat(t.shape, ",") .. "]"
end

-- The parameters of a group as a fresh list, each checked: a tensor, a leaf, requiring grad,
-- and in no group yet.
local function collect_params(self, list, at)
  local name = self.__name
  if graphids.is_tensor(list) then list = { list } end
  if type(list) ~= "table" then
    raise(string.format("%s: %s'params' must be a tensor or a list of tensors, got %s", name, at,
      util.describe(list)))
  end
  if #list == 0 then raise(string.format("%s: %sthe group has no parameters", name, at)) end
  local seen = {}
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do seen[p] = true end
  end
  local out = {}
  for i = 1, #list do
    local p = list[i]
    if not graphids.is_tensor(p) then
      raise(string.format("%s: %sparameter %d is %s, expected a tensor", name, at, i,
        util.describe(p)))
    end
    if not p.is_leaf then
      raise(string.format("%s: %sparameter %d is not a leaf tensor (it is the result of an op), " ..
        "so it cannot be optimized; use a tensor created with {requires_grad=true}, or " ..
        "t:detach():requires_grad_()", name, at, i))
    end
    if not p.requires_grad then
      raise(string.format("%s: %sparameter %d does not require grad; create it with " ..
        "{requires_grad=true} or call t:requires_grad_()", name, at, i))
    end
    if seen[p] then
      raise(string.format("%s: %sparameter %d appears more than once (in this group or in " ..
        "another group)", name, at, i))
    end
    -- the fused updates write a parameter and its state as one block of memory; a strided view
    -- (a transposed leaf) would only fail at the first step, far from here
    if not p:is_contiguous() then
      raise(string.format("%s: %sparameter %d (shape %s) is not contiguous; optimize a contiguous " ..
        "leaf, e.g. t:contiguous():detach():requires_grad_()", name, at, i, shape_str(p)))
    end
    seen[p] = true
    out[i] = p
  end
  return out
end

-- Adds a group ({params=..., lr=..., ...}); hyper-parameters it does not give come from the
-- optimizer's defaults.
function Optimizer:add_param_group(group)
  return self:_add_group(group, string.format("param group %d: ", #self.param_groups + 1))
end

function Optimizer:_add_group(group, at)
  local name = self.__name
  if type(group) ~= "table" or graphids.is_tensor(group) then
    raise(string.format("%s: a param group must be a table {params=..., lr=...}, got %s", name,
      util.describe(group)))
  end
  util.check_options(where(self, at), group, group_keys(self), "param group key")
  if group.params == nil then raise(string.format("%s: %smissing 'params'", name, at)) end
  local new = { params = collect_params(self, group.params, at) }
  local overrides = false
  for _, k in ipairs(self.HYPER) do
    if group[k] ~= nil then
      new[k] = util.copy(group[k])
      overrides = true
    else
      new[k] = util.copy(self.defaults[k])
    end
  end
  for _, k in ipairs(EXTRA_GROUP_KEYS) do new[k] = group[k] end
  -- The defaults were checked by the constructor; a group's own values are checked here.
  if overrides then
    self:_check_group(new, where(self, at))
    self:_check_new_group(new, where(self, at))
  end
  check_extras(new, where(self, at))
  self.param_groups[#self.param_groups + 1] = new
  return new
end

function Optimizer._check_group(_, _, _) end
function Optimizer._check_new_group(_, _, _) end

-- Sets each parameter's grad to nil (the default), or to zeros with {set_to_none=false}.  A grad
-- assigned by hand that requires grad is detached first, as torch's zero_grad does.
function Optimizer:zero_grad(opts)
  util.check_options(self.__name .. ":zero_grad", opts, { "set_to_none" })
  local set_to_none = util.boolean(self.__name .. ":zero_grad", "set_to_none",
    opts and opts.set_to_none, true)
  graphids.no_grad(function()
    for _, group in ipairs(self.param_groups) do
      for _, p in ipairs(group.params) do
        local g = p.grad
        if set_to_none then
          p.grad = nil
        elseif g ~= nil then
          if g.requires_grad then
            g = g:detach()
            p.grad = g
          end
          g:zero_()
        end
      end
    end
  end)
end

-- One update of every parameter that has a grad (the others are skipped).  A closure, when
-- given, is called with grad enabled first (it should zero the grads, compute the loss and call
-- backward) and its result is returned.
function Optimizer:step(closure)
  local loss
  if closure ~= nil then
    if type(closure) ~= "function" then
      raise(string.format("%s:step: closure must be a function, got %s", self.__name,
        util.describe(closure)))
    end
    loss = graphids.enable_grad(closure)
  end
  -- values set on the groups by hand (opt.param_groups[1].lr = ...) are checked before any
  -- parameter changes, and the error names the option and points at the caller's line
  local groups = self.param_groups
  for i, group in ipairs(groups) do
    self:_check_group(group, self.__name .. ":step" ..
      (#groups > 1 and string.format(": param group %d", i) or ""))
  end
  graphids.no_grad(function()
    for _, group in ipairs(groups) do self:_update(group) end
  end)
  return loss
end

-- The grad of p in the layout the fused kernels read (dense), or nil.
function Optimizer._grad(_, p)
  local g = p.grad
  if g ~= nil and not g:is_contiguous() then g = g:contiguous() end
  return g
end

local function copy_state(st, keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = st[k]
    if graphids.is_tensor(v) then v = v:clone() end
    out[k] = v
  end
  return out
end

-- A snapshot of the optimizer: every group's hyper-parameters and a copy of every state
-- tensor, so that later steps do not change it.
function Optimizer:state_dict()
  local sd = { state = {}, param_groups = {} }
  local pos = 0
  graphids.no_grad(function()
    for gi, group in ipairs(self.param_groups) do
      local saved = { params = {} }
      for _, k in ipairs(self.HYPER) do saved[k] = util.copy(group[k]) end
      for _, k in ipairs(EXTRA_GROUP_KEYS) do saved[k] = group[k] end
      for i, p in ipairs(group.params) do
        pos = pos + 1
        saved.params[i] = pos
        local st = self.state[p]
        if st ~= nil then sd.state[pos] = copy_state(st, self.STATE_KEYS) end
      end
      sd.param_groups[gi] = saved
    end
  end)
  return sd
end

local function same_shape(a, b)
  local sa, sb = a.shape, b.shape
  if #sa ~= #sb then return false end
  for i = 1, #sa do
    if sa[i] ~= sb[i] then return false end
  end
  return true
end

-- A parameter as messages name it: by torch's 0-based position, the index of its tensors in a
-- checkpoint (optimizer.state.<i>.<key>), with the 1-based key of the Lua state dict.  A key
-- that is no such position (0 or less, as a torch-style state[0]; not an integer) is no
-- checkpoint's: it is named as given.
local function param_name(pos)
  if math.type(pos) == "integer" and pos >= 1 then
    return string.format("parameter %d (optimizer.state.%d, state[%d] in the state dict)", pos - 1,
      pos - 1, pos)
  end
  local key = type(pos) == "string" and string.format("%q", pos) or util.describe(pos)
  return string.format("the parameter at state[%s] in the state dict", key)
end

-- The state of one parameter from a state dict, checked against the parameter and copied
-- (converted to its dtype, as torch does).
local function load_param_state(self, fname, pos, p, saved)
  local at = string.format("%s: state of %s", fname, param_name(pos))
  if type(saved) ~= "table" then
    raise(string.format("%s must be a table, got %s", at, util.describe(saved)))
  end
  util.check_options(at, saved, self.STATE_KEYS, "state key")
  for _, k in ipairs(self.REQUIRED_STATE or {}) do
    if saved[k] == nil then
      raise(string.format("%s misses '%s' (a state holds %s)", at, k,
        table.concat(self.REQUIRED_STATE, ", ")))
    end
  end
  local st = {}
  for _, k in ipairs(self.STATE_KEYS) do
    local v = saved[k]
    if k == "step" then
      if graphids.is_tensor(v) then v = v:item() end
      if v ~= nil then -- a count of updates: one near 2^63 overflowed at the next step
        v = util.integer(at, k, v, nil, 0, 1 << 53)
      end
    elseif v ~= nil then
      if not graphids.is_tensor(v) then
        raise(string.format("%s: '%s' must be a tensor, got %s", at, k, util.describe(v)))
      end
      if not same_shape(v, p) then
        raise(string.format("%s: '%s' has shape %s, expected the parameter's %s", at, k,
          shape_str(v), shape_str(p)))
      end
      v = v:to(p.dtype):clone()
    end
    st[k] = v
  end
  return st
end

-- Restores a state dict from state_dict() (of an optimizer of the same kind, over parameters
-- of the same shapes in the same groups).  Everything is checked before anything changes.
function Optimizer:load_state_dict(sd)
  self:_prepare_load(sd)()
end
Optimizer._stock_load = Optimizer.load_state_dict

-- Checks sd as load_state_dict does and copies its tensors, changing nothing; returns the
-- function that installs it.  The trainer checks every part of a checkpoint this way before it
-- restores any (a refused resume leaves the model, the optimizer and the schedule as they were).
function Optimizer:_prepare_load(sd)
  local fname = self.__name .. ":load_state_dict"
  if type(sd) ~= "table" then
    raise(string.format("%s: expected a state dict table, got %s", fname, util.describe(sd)))
  end
  util.check_options(fname, sd, { "param_groups", "state" }, "key")
  local groups, state = sd.param_groups, sd.state or {}
  if type(groups) ~= "table" or type(state) ~= "table" then
    raise(fname .. ": the state dict needs a 'param_groups' list and a 'state' table")
  end
  if #groups ~= #self.param_groups then
    raise(string.format("%s: the state dict has %d param groups, this optimizer has %d", fname,
      #groups, #self.param_groups))
  end
  local by_pos, new_groups = {}, {}
  for gi, group in ipairs(self.param_groups) do
    local saved = groups[gi]
    local at = string.format("param group %d", gi)
    if type(saved) ~= "table" then
      raise(string.format("%s: %s must be a table, got %s", fname, at, util.describe(saved)))
    end
    util.check_options(fname .. ": " .. at, saved, group_keys(self), "param group key")
    if type(saved.params) ~= "table" or #saved.params ~= #group.params then
      raise(string.format("%s: %s has %s parameters in the state dict, %d in this optimizer",
        fname, at, type(saved.params) == "table" and tostring(#saved.params) or "no",
        #group.params))
    end
    local new = {}
    for _, k in ipairs(self.HYPER) do
      if saved[k] == nil then raise(string.format("%s: %s misses '%s'", fname, at, k)) end
      new[k] = util.copy(saved[k])
    end
    for _, k in ipairs(EXTRA_GROUP_KEYS) do new[k] = saved[k] end
    self:_check_group(new, fname .. ": " .. at)
    check_extras(new, fname .. ": " .. at)
    for i, pos in ipairs(saved.params) do
      if math.type(pos) ~= "integer" or by_pos[pos] ~= nil then
        raise(string.format("%s: %s: parameter position %s is not a new integer", fname, at,
          util.describe(pos)))
      end
      by_pos[pos] = group.params[i]
    end
    new_groups[gi] = new
  end
  local positions = {}
  for pos in pairs(state) do
    if by_pos[pos] == nil then
      raise(string.format("%s: the state dict has state for %s, which no group lists", fname,
        param_name(pos)))
    end
    positions[#positions + 1] = pos
  end
  table.sort(positions)
  local new_state = {}
  graphids.no_grad(function()
    for _, pos in ipairs(positions) do
      local p = by_pos[pos]
      new_state[p] = load_param_state(self, fname, pos, p, state[pos])
    end
  end)
  return function()
    for gi, group in ipairs(self.param_groups) do
      for _, k in ipairs(self.HYPER) do group[k] = new_groups[gi][k] end
      for _, k in ipairs(EXTRA_GROUP_KEYS) do group[k] = new_groups[gi][k] end
    end
    self.state = new_state
  end
end

local function show(v)
  if type(v) == "table" then
    local parts = {}
    for i = 1, #v do parts[i] = show(v[i]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

function Optimizer:__tostring()
  local lines = { self.__name .. " (" }
  for gi, group in ipairs(self.param_groups) do
    lines[#lines + 1] = string.format("param group %d: %d parameters", gi, #group.params)
    for _, k in ipairs(self.HYPER) do
      lines[#lines + 1] = "    " .. k .. ": " .. show(group[k])
    end
    for _, k in ipairs(EXTRA_GROUP_KEYS) do
      if group[k] ~= nil then lines[#lines + 1] = "    " .. k .. ": " .. show(group[k]) end
    end
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

return Optimizer
