-- graphids.models._base -- what every model class shares: hyper-parameter tables checked against
-- the class's defaults, the JSON-able copy a checkpoint stores, and the class-path constructor.
--   local B = require "graphids.models._base"
--   local GAT = B.model_class("GATClassifier", "graphids.models.GATClassifier", DEFAULTS)
--   function GAT:__init(hp) B.Model.__init(self, hp) ... self.hp.hidden ... end
--   local m = GAT{ num_ids = 10, hidden = 24 }          -- unknown keys raise, naming the key
--   m:hparams()      --> every hyper-parameter, defaults filled in (a fresh deep copy)
-- Hyper-parameters are plain JSON values (numbers, strings, booleans, lists, string-keyed
-- tables); a model is rebuilt from its class path and hparams() alone.
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local B = {}

-- Marks a hyper-parameter that has no default and must be given.
B.REQUIRED = setmetatable({}, { __tostring = function() return "required" end })

local deep_copy = U.deep_copy
B.deep_copy = deep_copy

-- JSON-able check: numbers (finite), strings, booleans and tables of them.  path names the key.
local function check_json(name, path, v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      error(string.format("%s: hyper-parameter '%s' must be finite, got %s", name, path,
        tostring(v)), 0)
    end
  elseif t == "table" then
    if getmetatable(v) ~= nil then
      error(string.format("%s: hyper-parameter '%s' must be plain data, got %s", name, path,
        class.name_of(v)), 0)
    end
    for k, x in pairs(v) do
      check_json(name, path .. "." .. tostring(k), x)
    end
  elseif t ~= "string" and t ~= "boolean" then
    error(string.format("%s: hyper-parameter '%s' must be plain data, got %s", name, path, t), 0)
  end
end

-- JSON decoders give every number as a float: where the default is an integer (or a list of
-- them, or a required key), an integral float becomes that integer, so hparams that went
-- through a checkpoint's JSON rebuild the same model.
local function as_default_type(v, d)
  if math.type(v) == "float" and (d == B.REQUIRED or math.type(d) == "integer") then
    return math.tointeger(v) or v
  end
  if type(v) == "table" and type(d) == "table" and math.type(d[1]) == "integer" then
    local out = {}
    for i, x in ipairs(v) do
      out[i] = math.type(x) == "float" and math.tointeger(x) or x
    end
    return out
  end
  return v
end

-- hp (a table or nil) checked against defaults (name -> default, B.REQUIRED or U.NONE): unknown
-- keys raise with U.options' did-you-mean message, a missing required key raises naming it.
-- Returns a new table with the defaults filled in.  level: error level of the caller's caller.
function B.check(name, hp, defaults, level)
  level = (level or 2) + 1
  local d = {}
  for k, v in pairs(defaults) do
    d[k] = (v == B.REQUIRED) and U.NONE or v
  end
  if type(hp) == "table" then
    local conv = {}
    for k, v in pairs(hp) do
      conv[k] = defaults[k] ~= nil and as_default_type(v, defaults[k]) or v
    end
    hp = conv
  end
  if type(hp) == "table" then
    local unknown = {}
    for k in pairs(hp) do
      if defaults[k] == nil then
        unknown[#unknown + 1] = "'" .. tostring(k) .. "'"
      end
    end
    if #unknown > 1 then
      table.sort(unknown)
      error(string.format("%s: unknown hyper-parameters %s (allowed: %s)", name,
        table.concat(unknown, ", "), table.concat(U.sorted_keys(defaults), ", ")), level)
    end
  end
  local ok, out = pcall(U.options, name, hp, d, 1)
  if not ok then
    error((tostring(out):gsub("option", "hyper-parameter")), level)
  end
  for _, k in ipairs(U.sorted_keys(defaults)) do
    if defaults[k] == B.REQUIRED and out[k] == nil then
      error(string.format("%s: hyper-parameter '%s' is required", name, k), level)
    end
  end
  for _, k in ipairs(U.sorted_keys(out)) do
    local okj, err = pcall(check_json, name, k, out[k])
    if not okj then
      error(err, level)
    end
  end
  return deep_copy(out)
end

-- Positive-integer and range checks that read as hyper-parameter errors.
function B.positive_int(name, key, v)
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("%s: hyper-parameter '%s' must be a positive integer, got %s", name, key,
      tostring(v)), 0)
  end
end

function B.probability(name, key, v)
  if type(v) ~= "number" or v < 0 or v > 1 then
    error(string.format("%s: hyper-parameter '%s' must be in [0, 1], got %s", name, key,
      tostring(v)), 0)
  end
end

function B.non_negative(name, key, v)
  if type(v) ~= "number" or not (v >= 0 and v < math.huge) then
    error(string.format("%s: hyper-parameter '%s' must be a finite number >= 0, got %s", name, key,
      tostring(v)), 0)
  end
end

function B.positive(name, key, v)
  if type(v) ~= "number" or not (v > 0 and v < math.huge) then
    error(string.format("%s: hyper-parameter '%s' must be a finite number > 0, got %s", name, key,
      tostring(v)), 0)
  end
end

function B.non_negative_int(name, key, v)
  if math.type(v) ~= "integer" or v < 0 then
    error(string.format("%s: hyper-parameter '%s' must be a non-negative integer, got %s", name, key,
      tostring(v)), 0)
  end
end

function B.one_of(name, key, v, allowed)
  for _, a in ipairs(allowed) do
    if v == a then
      return
    end
  end
  error(string.format("%s: hyper-parameter '%s' must be one of %s, got %s", name, key,
    table.concat(allowed, ", "), tostring(v)), 0)
end

-- The base class of every model: an nn.Module holding its checked hyper-parameters in self.hp.
local Model = class("Model", Module)
B.Model = Model

-- Subclasses call this first; it checks hp against the class's DEFAULTS.
function Model:__init(hp)
  Module.__init(self)
  local cls = getmetatable(self)
  rawset(self, "hp", B.check(cls.__name, hp, cls.DEFAULTS, 4))
end

-- A deep copy of the hyper-parameters (JSON-able), enough with class_path to rebuild the model.
function Model:hparams()
  return deep_copy(self.hp)
end

-- Replaces the training loss (a KD wrapper around the current one, say).  The loss stays the
-- child `loss_fn`, so its parameters (a KD projection) are optimized with the model and saved
-- in its state_dict.
function Model:set_loss_fn(loss)
  if not class.isinstance(loss, Module) then
    error("set_loss_fn: loss must be an nn.Module, got " .. class.name_of(loss), 2)
  end
  self.loss_fn = loss
  return self
end

-- A new class deriving from parent (default Model) with its class path and defaults.
-- cls.new(hp) is the same as cls(hp).
-- MONITOR is the {metric, mode} the checkpoint and early-stopping callbacks must watch for the
-- class (config cross-field rule): the parent's, else val_loss/min, unless the class says
-- otherwise.
function B.model_class(name, class_path, defaults, parent)
  local cls = class(name, parent or Model)
  cls.class_path = class_path
  cls.DEFAULTS = defaults
  cls.MONITOR = parent and parent.MONITOR or { "val_loss", "min" }
  cls.new = function(hp) return cls(hp) end
  return cls
end

-- Checks that a tensor is an i64 or i32 index tensor with the given number of dims.
function B.check_index(name, what, t, ndim)
  if not U.is_tensor(t) then
    error(string.format("%s: %s must be a tensor, got %s", name, what, type(t)), 0)
  end
  if t.dtype ~= "i64" and t.dtype ~= "i32" then
    error(string.format("%s: %s must be an i64 tensor, got %s", name, what, t.dtype), 0)
  end
  if ndim and t.ndim ~= ndim then
    error(string.format("%s: %s must have %d dim(s), got shape %s", name, what, ndim,
      U.shape_str(t)), 0)
  end
end

return B
