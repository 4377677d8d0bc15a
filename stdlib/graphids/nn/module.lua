-- graphids.nn.Module -- the base class of every layer: parameters, buffers and child modules
-- kept in registration order, with the names torch's state_dict uses.
--
--   local class, nn = require "graphids.class", require "graphids.nn"
--   local Net = class("Net", nn.Module)
--   function Net:__init()
--     nn.Module.__init(self)
--     self.fc = nn.Linear(3, 8)              -- assigning a Module registers it as a child
--     self:register_parameter("scale", graphids.ones(8))
--     self:register_buffer("step", graphids.zeros({}, { dtype = "i64" }))
--   end
--   function Net:forward(x) return self.fc(x) * self.scale end
--   local net = Net()
--   net(x)                                   -- calls net:forward(x)
--   for name, p in net:named_parameters() do print(name, p.shape) end  -- fc.weight, fc.bias, scale
--
-- Parameters, buffers and children are plain fields of the instance (self.weight); the module
-- keeps their names in order, so a field reassigned later (self.weight = t) is what
-- parameters() and state_dict() see.  A parameter or buffer may be registered as nil (Linear's
-- bias with bias=false): the name is reserved and skipped everywhere.
--
-- An error raised inside a layer of graphids.nn (its forward, or an op it calls) is raised at
-- the line of the user's code that called the layer, named by it, as a function's error:
-- "train.lua:12: Linear: ...".  One raised in a user's own forward keeps its position there.
-- The outermost module call adds the path of the failing module from the root after the
-- position: "train.lua:12: model.layers.2: Linear: ...".
local graphids = require "graphids"
local core = require "graphids.core"
local class = require "graphids.class"
local StateDict = require "graphids.nn.state_dict"
local Filled = require "graphids.nn.filled_state"
local U = require "graphids.nn._util"

local Module = class("Module")

local INTERNAL = { _params = true, _buffers = true, _children = true, _kind = true,
  _nonpersistent = true, training = true }

-- A Module assigned before Module.__init(self) has nowhere to be registered: an error, as
-- torch's "cannot assign module before Module.__init__() call" (it became a plain field that
-- parameters(), state_dict() and to() never saw).
-- A value assigned to a parameter registered as nil (Linear's bias with bias=false) is refused,
-- as torch refuses anything but a Parameter there: a plain tensor would have become a
-- parameter that does not require grad and never trains.  register_parameter makes it one.
-- (Assigning over a parameter that is not nil is a plain field write no metamethod sees: the
-- tensor becomes the parameter as it is, which is how tied weights are made.)
local function newindex(self, key, value)
  local kinds = rawget(self, "_kind")
  if value ~= nil and kinds and kinds[key] == "parameter" then
    error(string.format("%s: cannot assign %s to parameter '%s' (registered as nil); use " ..
      "m:register_parameter(\"%s\", t), which makes t a trainable parameter", class.name_of(self),
      graphids.is_tensor(value) and "a tensor" or U.describe(value), key, key), 2)
  end
  if type(key) == "string" and class.isinstance(value, Module) then
    if not rawget(self, "_kind") then
      error(string.format("%s: cannot assign module '%s' before nn.Module.__init(self) is called",
        class.name_of(self), key), 2)
    end
    Module._add_child(self, class.name_of(self), key, value, 2)
  else
    rawset(self, key, value)
  end
end
-- Assigning a Module to a new field registers it (self.fc = nn.Linear(...)), as in torch;
-- class() passes __newindex on to every subclass (the containers' own hands every key but an
-- index to this one).
Module.__newindex = newindex

function Module:__init()
  rawset(self, "training", true)
  rawset(self, "_params", {})
  rawset(self, "_buffers", {})
  rawset(self, "_children", {})
  rawset(self, "_kind", {})
  rawset(self, "_nonpersistent", {})
end

-- level: error's level for the caller of the function that calls check_name (default 2, a
-- public method's own caller).
local function check_name(self, fname, name, kind, level)
  level = (level or 2) + 1
  if type(name) ~= "string" then
    error(string.format("%s: name must be a string, got %s", fname, type(name)), level)
  end
  if name == "" or name:find(".", 1, true) then
    error(string.format("%s: name '%s' must be non-empty and contain no '.'", fname, name), level)
  end
  local kinds = rawget(self, "_kind")
  if not kinds then
    error(string.format("%s: Module.__init(self) was not called before registering '%s'", fname,
      name), level)
  end
  local have = kinds[name]
  if have == nil and (INTERNAL[name] or rawget(self, name) ~= nil or self[name] ~= nil) then
    error(string.format("%s: attribute '%s' already exists", fname, name), level)
  end
  if have ~= nil and have ~= kind then
    error(string.format("%s: '%s' is already registered as a %s", fname, name, have), level)
  end
  return have == nil
end

-- Registers t (a float tensor that no recorded op produced, or nil) as the parameter `name`;
-- it is marked requires_grad unless opts.requires_grad is false.
function Module:register_parameter(name, t, opts)
  local o = U.options("register_parameter", opts, { requires_grad = true })
  local new = check_name(self, "register_parameter", name, "parameter")
  if t ~= nil then
    if not graphids.is_tensor(t) then
      error(string.format("register_parameter: '%s' must be a tensor or nil, got %s", name, type(t)),
        2)
    end
    if not U.is_float(t) then
      error(string.format("register_parameter: '%s' must be a float tensor, got %s", name, t.dtype),
        2)
    end
    if t.is_leaf == false then
      error(string.format("register_parameter: '%s' must be a leaf tensor (call detach() first)",
        name), 2)
    end
    U.as_parameter(t, o.requires_grad)
  end
  if new then
    self._params[#self._params + 1] = name
    self._kind[name] = "parameter"
  end
  rawset(self, name, t)
  return t
end

-- Registers t (a tensor or nil) as the buffer `name`; {persistent=false} keeps it out of
-- state_dict.
function Module:register_buffer(name, t, opts)
  local o = U.options("register_buffer", opts, { persistent = true })
  local new = check_name(self, "register_buffer", name, "buffer")
  if t ~= nil and not graphids.is_tensor(t) then
    error(string.format("register_buffer: '%s' must be a tensor or nil, got %s", name, type(t)), 2)
  end
  if new then
    self._buffers[#self._buffers + 1] = name
    self._kind[name] = "buffer"
  end
  self._nonpersistent[name] = (not o.persistent) or nil
  rawset(self, name, t)
  return t
end

-- Registers m (a Module or nil) as the child `name`.
function Module:add_module(name, m)
  local r = Module._add_child(self, "add_module", name, m, 2) -- not a tail call: levels count
  return r
end
Module.register_module = Module.add_module

-- add_module for a method or constructor built on it (ModuleDict:set, ModuleDict(...)): its
-- errors name fname and are raised at `level` as seen from that caller (2: its own caller;
-- U.CTOR from an __init).
function Module._add_child(self, fname, name, m, level)
  local new = check_name(self, fname, name, "module", level + 1)
  if m ~= nil and not class.isinstance(m, Module) then
    error(string.format("%s: '%s' must be a Module or nil, got %s", fname, name,
      class.name_of(m)), level + 1)
  end
  if new then
    self._children[#self._children + 1] = name
    self._kind[name] = "module"
  end
  rawset(self, name, m)
  return m
end

-- ---------------------------------------------------------------- forward and errors

function Module:forward()
  error(string.format("%s: forward is not defined (define %s:forward)", class.name_of(self),
    class.name_of(self)), 2)
end
U.library_forwards[Module.forward] = true

-- An error string travels up through nested module calls (a pcall between two module calls
-- gets the string, as anywhere in Lua); beside it, `failing` records the modules it passed,
-- innermost first, and the outermost call re-raises it with their path after its position.
-- A chain continues only from a direct child's call (one level deeper) with the same error:
-- an error caught and dropped inside a forward leaves no trace on the next one.
-- The error's position: one raised in the library (a graphids.nn layer's forward, or what it
-- calls) points there, useless to the user, so the call of the outermost library layer of the
-- chain, the one the user's code called (no library forward runs around it), raises it again
-- at that call's line, named by the innermost layer ("Linear: "), as core._named does for a
-- function (the inner op's name and position dropped).  A user's forward placed its own.
-- An inner op's message that counts its own arguments ("arg 2 has dtype f32", "dim (argument
-- #2) ...") keeps the op's name after the layer's ("Linear: addmm: arg 2 ..."): the layer has
-- no such argument, and the op's name says whose they are.  The layers check the usual mistakes
-- before their ops do, in their own terms (F.linear's input and weight), so this is the rare case.
-- A forward may run a coroutine, and may yield: the calls of a coroutine that another resumed
-- nest inside the resumer's (the error of a layer called there passes up through the resumer's
-- modules), while a coroutine suspended mid-forward (or dropped there, never resumed) nests
-- nothing: its calls must not raise the depth of the others'.  So each coroutine keeps its own
-- depth and in-library flag, and a call's level is its coroutine's depth plus those of the
-- coroutines resuming it (status "normal"), kept in `nesting` while their depth is above 0.
--   depth       this coroutine's nesting of module calls (0 outside any)
--   in_library  whether the forward running now is one of U.library_forwards
-- and, for the process, failing = {msg =, level =, chain = {module, ...}, placed = bool} or nil.
local states = setmetatable({}, { __mode = "k" })
local nesting = setmetatable({}, { __mode = "k" }) -- coroutine -> its state, while depth > 0
local failing = nil
local function state()
  local co = coroutine.running()
  local s = states[co]
  if s == nil then
    s = { depth = 0, in_library = false }
    states[co] = s
  end
  return s, co
end

-- The depth of the module calls of the coroutines resuming co (none for the main one).
local function resumers_depth(co)
  local d = 0
  for c, s in pairs(nesting) do
    if c ~= co and coroutine.status(c) == "normal" then d = d + s.depth end
  end
  return d
end

-- The name of child within parent: a direct child's name, else a descendant's dotted path.
local function child_path(parent, child)
  for _, name in ipairs(parent._children) do
    if rawget(parent, name) == child then
      return name
    end
  end
  for name, m in parent:named_modules() do
    if m == child then
      return name
    end
  end
  return "<" .. class.name_of(child) .. ">"
end

-- Whether the op name `name` ("addmm: ") of an error raised inside `layer` stays in the message
-- renamed by the layer: it does when the rest counts the op's arguments, unless it is the
-- layer's own name (its forward's arity check counts the forward's).
local function keeps_op_name(name, rest, layer)
  return name ~= "" and name ~= "?: " and name ~= layer
    and (rest:find("%f[%w_]arg %d") or rest:find("argument #%d")) ~= nil
end

-- The error err of self's call, as it is to be raised from there (where: the line that
-- called self, "" from C); depth and in_library are the caller's again.
local function raised(self, err, where)
  local st, co = state()
  if type(err) ~= "string" then
    failing = nil
    return err -- an error object is the caller's own: passed on untouched
  end
  local level = st.depth + resumers_depth(co) -- this call's nesting (the outermost is 0)
  local f = failing
  if f and f.msg == err and f.level == level + 1 then
    f.chain[#f.chain + 1] = self
    f.level = level
  else
    f = { msg = err, level = level, chain = { self }, placed = false }
    failing = f
  end
  local pos, name, rest = core._error_parts(err)
  if not U.library_forwards[self.forward] then
    f.placed = true
  elseif not f.placed and not st.in_library then
    local layer = class.name_of(f.chain[1]) .. ": "
    pos, name, f.placed = where, keeps_op_name(name, rest, layer) and layer .. name or layer, true
  end
  if level > 0 then
    f.msg = pos .. name .. rest
    return f.msg
  end
  failing = nil
  local chain, path = f.chain, ""
  if #chain > 1 then
    local parts = { "model" }
    for i = #chain, 2, -1 do
      parts[#parts + 1] = child_path(chain[i], chain[i - 1])
    end
    path = table.concat(parts, ".") .. ": "
  end
  return pos .. path .. name .. rest
end

local function finish(st, co, outer, ok, ...)
  st.depth = st.depth - 1
  st.in_library = outer
  if st.depth == 0 then nesting[co] = nil end
  if ok then
    return ...
  end
  error((...), 0)
end

local function call(self, ...)
  local st, co = state()
  st.depth = st.depth + 1
  if st.depth == 1 then nesting[co] = st end
  local outer = st.in_library
  st.in_library = U.library_forwards[self.forward] == true
  return finish(st, co, outer, pcall(self.forward, self, ...))
end

-- m(...) is m:forward(...).  A C closure (core._at_caller): a Lua __call tail-called from a
-- forward ("return self.fc(x)") would have lost the line that called it.
Module.__call = core._at_caller(call, raised)

-- ---------------------------------------------------------------- traversal

-- The value registered as `name` in m (nil allowed), checked against its kind: assigning to a
-- field that already exists (self.weight = 5) is a plain rawset that no metamethod sees, so a
-- wrong value is named here, where it would otherwise fail obscurely or drop out silently.
local function registered(m, name, path, kind)
  local v = rawget(m, name)
  if v ~= nil and not (kind == "module" and class.isinstance(v, Module)
        or kind ~= "module" and graphids.is_tensor(v)) then
    error(string.format("%s: registered as a %s but holds %s (assign a %s, or nil)", path, kind,
      graphids.is_tensor(v) and "a tensor" or U.describe(v), kind == "module" and "Module" or "tensor"), 0)
  end
  return v
end

-- Iterator over name, module for self and every descendant, depth-first in registration
-- order, each module once: "" for self, then "fc", "layers", "layers.0", ...
function Module:named_modules(opts)
  local o = U.options("named_modules", opts, { prefix = "", remove_duplicate = true })
  local out, seen = {}, {}
  local function walk(m, prefix)
    if o.remove_duplicate then
      if seen[m] then
        return
      end
      seen[m] = true
    end
    out[#out + 1] = { prefix, m }
    for _, name in ipairs(m._children) do
      local path = prefix == "" and name or prefix .. "." .. name
      local c = registered(m, name, path, "module")
      if c ~= nil then
        walk(c, path)
      end
    end
  end
  walk(self, o.prefix)
  local i = 0
  return function()
    i = i + 1
    local e = out[i]
    if e then
      return e[1], e[2]
    end
  end
end

-- List of self and every descendant (the order of named_modules).
function Module:modules()
  local list = {}
  for _, m in self:named_modules() do
    list[#list + 1] = m
  end
  return list
end

-- Iterator over name, child for the direct children, each module once (a module registered
-- under two names comes under the first, as torch's).
function Module:named_children()
  local i, names, seen = 0, self._children, {}
  return function()
    while true do
      i = i + 1
      local name = names[i]
      if name == nil then
        return nil
      end
      local c = rawget(self, name)
      if c ~= nil and not seen[c] then
        seen[c] = true
        return name, c
      end
    end
  end
end

function Module:children()
  local list = {}
  for _, c in self:named_children() do
    list[#list + 1] = c
  end
  return list
end

local function named_members(self, fname, opts, list_field)
  local o = U.options(fname, opts, { prefix = "", recurse = true, remove_duplicate = true })
  local out, seen = {}, {}
  local function add(m, prefix)
    for _, name in ipairs(m[list_field]) do
      local t = registered(m, name, prefix == "" and name or prefix .. "." .. name,
        list_field == "_params" and "parameter" or "buffer")
      if t ~= nil and not (o.remove_duplicate and seen[t]) then
        seen[t] = true
        out[#out + 1] = { prefix == "" and name or prefix .. "." .. name, t }
      end
    end
  end
  if o.recurse then
    for prefix, m in self:named_modules({ prefix = o.prefix, remove_duplicate = o.remove_duplicate }) do
      add(m, prefix)
    end
  else
    add(self, o.prefix)
  end
  local i = 0
  return function()
    i = i + 1
    local e = out[i]
    if e then
      return e[1], e[2]
    end
  end
end

-- Iterator over name, parameter: each module's own parameters in registration order, modules
-- depth-first (torch's order); a tensor shared by two modules comes once.
-- opts: prefix="", recurse=true, remove_duplicate=true.
function Module:named_parameters(opts)
  return named_members(self, "named_parameters", opts, "_params")
end

-- List of the parameters, in named_parameters order (what an optimizer takes).
function Module:parameters(opts)
  local list = {}
  for _, p in named_members(self, "parameters", opts, "_params") do
    list[#list + 1] = p
  end
  return list
end

function Module:named_buffers(opts)
  return named_members(self, "named_buffers", opts, "_buffers")
end

function Module:buffers(opts)
  local list = {}
  for _, b in named_members(self, "buffers", opts, "_buffers") do
    list[#list + 1] = b
  end
  return list
end

-- Number of parameter elements (shared parameters counted once); {trainable=true} counts only
-- those with requires_grad.
function Module:num_parameters(opts)
  local o = U.options("num_parameters", opts, { trainable = false })
  local n = 0
  for _, p in self:named_parameters() do
    if not o.trainable or U.requires_grad(p) then
      n = n + p:numel()
    end
  end
  return n
end

-- ---------------------------------------------------------------- modes and updates

-- Sets training mode (default true) on self, then calls each direct child's own train(mode),
-- as torch does: a subclass that overrides train (to keep a BatchNorm frozen, say) is obeyed
-- wherever it sits in the tree.  A child registered twice in one module is called once.
-- Returns self.
function Module:train(mode)
  if mode == nil then
    mode = true
  end
  if type(mode) ~= "boolean" then
    error("train: mode must be a boolean, got " .. type(mode), 2)
  end
  rawset(self, "training", mode)
  local seen = {}
  for _, name in ipairs(self._children) do
    local c = registered(self, name, name, "module")
    if c ~= nil and not seen[c] then
      seen[c] = true
      c:train(mode)
    end
  end
  return self
end

-- train(false), as torch's: an override of train sees eval() too.
function Module:eval()
  return self:train(false)
end

-- Calls fn(m) on every descendant, children before their parent (as torch); returns self.  As
-- torch's, a module under two parents is visited under each (named_children lists a child
-- registered twice in one module once).
function Module:apply(fn)
  for _, c in self:named_children() do
    c:apply(fn)
  end
  fn(self)
  return self
end

-- Clears the .grad of every parameter: removed (set_to_none = true, the default, as torch) or
-- filled with zeros in place.
function Module:zero_grad(opts)
  local o = U.options("zero_grad", opts, { set_to_none = true })
  for _, p in self:named_parameters() do
    if o.set_to_none then
      p.grad = nil
    elseif p.grad ~= nil then
      p.grad:zero_()
    end
  end
  return self
end

-- Switches requires_grad on every parameter (default true); returns self.
function Module:requires_grad_(on)
  if on == nil then
    on = true
  end
  for _, p in self:named_parameters() do
    U.as_parameter(p, on)
  end
  return self
end

local DEVICES = { cpu = true, cuda = true }
-- The dtypes a module's parameters take (and their aliases): half ones are autocast's business.
local MODULE_DTYPES = { f32 = "f32", float32 = "f32", float = "f32", f64 = "f64", float64 = "f64",
  double = "f64" }

local function is_device(s)
  return type(s) == "string" and (DEVICES[s] or s:match("^cuda:%d+$") ~= nil)
end

-- m:to(dtype), m:to(device), m:to(device, dtype), m:to({device=, dtype=}): converts float
-- parameters and buffers (integer buffers keep their dtype, as in torch).  Parameters stay
-- leaves with their requires_grad; their grads are converted too.  A parameter whose dtype
-- or device changes is a new tensor: build optimizers after calling to().  A CUDA device needs
-- the CUDA plugin and a GPU (the binding's "not available" error says why otherwise).
function Module:to(a, b)
  local device, dtype
  if type(a) == "table" then
    local o = U.options("to", a, { device = U.NONE, dtype = U.NONE })
    device, dtype = o.device, o.dtype
    if b ~= nil then
      error("to: unexpected argument after the options table", 2)
    end
  else
    if is_device(a) then
      device, dtype = a, b
    else
      dtype = a
      if b ~= nil then
        error("to: expected to(device, dtype), to(dtype) or to({device=, dtype=})", 2)
      end
    end
  end
  local dev
  if device ~= nil then
    if not is_device(device) then
      error(string.format("to: device must be cpu, cuda or cuda:N, got %s", U.describe(device)), 2)
    end
    -- (a device this build or machine cannot use: the binding says why, under to's name)
    dev = core._call_as("to", nil, graphids.empty, 0, { device = device }).device
  end
  local target
  if dtype ~= nil then
    target = MODULE_DTYPES[dtype]
    if target == nil then
      error(string.format("to: %s is neither a device (cpu, cuda, cuda:N) nor a module dtype (f32, f64; " ..
        "mixed precision is the trainer's precision option)", U.describe(dtype)), 2)
    end
  end
  if dev == nil and target == nil then
    return self
  end
  -- Parameters are replaced by new leaves (on the new device and/or in the new float dtype),
  -- keeping requires_grad and converting an existing grad; buffers move with them (integer
  -- buffers such as num_batches_tracked change device only).  A tensor with nothing to change
  -- stays the same object (an optimizer built before a no-op to() still trains the model),
  -- and a tensor two modules share is converted once and stays shared (tied weights).
  local function changes(t)
    return (dev ~= nil and t.device ~= dev) or (target ~= nil and U.is_float(t) and t.dtype ~= target)
  end
  local function moved(t)
    local nt = t:detach()
    if dev ~= nil and nt.device ~= dev then nt = nt:to(dev) end
    if target ~= nil and U.is_float(t) and nt.dtype ~= target then nt = nt:to(target) end
    return nt
  end
  local done = {} -- old tensor -> its converted one
  local function convert(m, list, is_param)
    for _, name in ipairs(list) do
      local t = rawget(m, name)
      if t ~= nil and done[t] == nil and changes(t) then
        local grad = is_param and t.grad or nil
        local nt = U.no_grad(function() return moved(t) end)
        if is_param then
          U.as_parameter(nt, U.requires_grad(t))
          if grad ~= nil then
            nt.grad = U.no_grad(function() return moved(grad) end)
          end
        end
        done[t] = nt
      end
      if t ~= nil and done[t] ~= nil then rawset(m, name, done[t]) end
    end
  end
  -- every parameter before any buffer: a tensor that is one module's parameter and another's
  -- buffer is converted as a parameter (keeping requires_grad and its grad), then shared
  local modules = self:modules()
  for _, m in ipairs(modules) do
    convert(m, m._params, true)
  end
  for _, m in ipairs(modules) do
    convert(m, m._buffers, false)
  end
  return self
end

function Module:float()
  return self:to("f32")
end

function Module:double()
  return self:to("f64")
end

-- ---------------------------------------------------------------- state dicts

local function each_state(self, fn)
  local function walk(m, prefix)
    for _, name in ipairs(m._params) do
      fn(m, name, prefix .. name, registered(m, name, prefix .. name, "parameter"))
    end
    for _, name in ipairs(m._buffers) do
      if not m._nonpersistent[name] then
        fn(m, name, prefix .. name, registered(m, name, prefix .. name, "buffer"))
      end
    end
    for _, name in ipairs(m._children) do
      local c = registered(m, name, prefix .. name, "module")
      if c ~= nil then
        walk(c, prefix .. name .. ".")
      end
    end
  end
  walk(self, "")
end

-- A StateDict (see graphids.nn.StateDict) of every parameter and persistent buffer, named and
-- ordered as torch's state_dict: own parameters, own buffers, then each child's entries.  The
-- tensors are detached views of the module's (they share storage; clone them to snapshot).
function Module:state_dict(opts)
  local o = U.options("state_dict", opts, { prefix = "", keep_vars = false })
  local sd = StateDict()
  each_state(self, function(_, _, key, t)
    if t ~= nil then
      if not o.keep_vars and t.detach then
        t = t:detach()
      end
      sd:set(o.prefix .. key, t)
    end
  end)
  return sd
end

local function quote_list(keys)
  local q = {}
  for i, k in ipairs(keys) do
    q[i] = '"' .. k .. '"'
  end
  return table.concat(q, ", ")
end

-- Copies the tensors of sd (a StateDict or a table name -> tensor) into the parameters and
-- buffers.  With strict (default) a missing or unexpected key is an error, except a buffer its
-- class lists in `_optional_state` (name -> true), which keeps its value; a shape mismatch is
-- always one, except that a buffer its class lists in `_filled_state` may hold fewer rows
-- (graphids.nn.filled_state: from its filled rows up to all; the rest are zeroed).  Every
-- problem is listed in one error; nothing is copied when there is one.
-- Returns { missing_keys = {...}, unexpected_keys = {...} }.
function Module:load_state_dict(sd, opts)
  local o = U.options("load_state_dict", opts, { strict = true })
  sd = StateDict.from(sd)
  local expected, missing, mismatch, copies = {}, {}, {}, {}
  each_state(self, function(m, name, key, t)
    if t == nil then
      return
    end
    expected[key] = true
    local src = sd:get(key)
    local optional = m._optional_state
    if src == nil and optional and optional[name] then
      return -- a key older checkpoints lack: the module keeps its own value (see the class)
    elseif src == nil then
      missing[#missing + 1] = key
    elseif not graphids.is_tensor(src) then
      mismatch[#mismatch + 1] = string.format("value for %s is a %s, not a tensor", key, type(src))
    elseif Filled.is(m, name) then
      local err = Filled.check(m, key, src, t, Filled.reader(m, key:sub(1, #key - #name), sd))
      if err then
        mismatch[#mismatch + 1] = err
      else
        copies[#copies + 1] = { m, name, src }
      end
    else
      local a, b = src.shape, t.shape
      local same = #a == #b
      for i = 1, #a do
        same = same and a[i] == b[i]
      end
      if not same then
        mismatch[#mismatch + 1] = string.format("size mismatch for %s: copying a param with shape " ..
          "%s from checkpoint, the shape in current model is %s", key, U.shape_str(src),
          U.shape_str(t))
      else
        copies[#copies + 1] = { m, name, src }
      end
    end
  end)
  local unexpected = {}
  for _, key in ipairs(sd:keys()) do
    if not expected[key] then
      unexpected[#unexpected + 1] = key
    end
  end
  local errs = {}
  if o.strict and #missing > 0 then
    errs[#errs + 1] = "Missing key(s) in state_dict: " .. quote_list(missing) .. "."
  end
  if o.strict and #unexpected > 0 then
    errs[#errs + 1] = "Unexpected key(s) in state_dict: " .. quote_list(unexpected) .. "."
  end
  for _, e in ipairs(mismatch) do
    errs[#errs + 1] = e .. "."
  end
  if #errs > 0 then
    error(string.format("load_state_dict: Error(s) in loading state_dict for %s:\n\t%s",
      class.name_of(self), table.concat(errs, "\n\t")), 2)
  end
  U.no_grad(function()
    for _, c in ipairs(copies) do
      if Filled.is(c[1], c[2]) then
        Filled.copy(rawget(c[1], c[2]), c[3])
      else
        rawget(c[1], c[2]):copy_(c[3])
      end
    end
  end)
  return { missing_keys = missing, unexpected_keys = unexpected }
end

-- ---------------------------------------------------------------- printing

-- The text inside the parentheses of this module's line; subclasses override it.  The default
-- shows the shapes of the module's own parameters: "weight=[3, 4], bias=[4]".
function Module:extra_repr()
  local parts = {}
  for _, name in ipairs(self._params) do
    local t = rawget(self, name)
    if t ~= nil then
      parts[#parts + 1] = name .. "=" .. U.shape_str(t)
    end
  end
  return table.concat(parts, ", ")
end

local function add_indent(s, n)
  local pad = string.rep(" ", n)
  return (s:gsub("\n", "\n" .. pad))
end

-- torch's repr: "Name(extra)" or an indented tree with one "(name): child" line per child.
function Module:__tostring()
  local lines = {}
  local extra = self:extra_repr()
  if extra ~= "" then
    for line in (extra .. "\n"):gmatch("(.-)\n") do
      lines[#lines + 1] = line
    end
  end
  local nextra = #lines
  -- every registered name, a module registered twice under each (torch's repr walks _modules;
  -- named_children lists it once)
  for _, name in ipairs(self._children) do
    local c = rawget(self, name)
    if c ~= nil then
      lines[#lines + 1] = "(" .. name .. "): " .. add_indent(tostring(c), 2)
    end
  end
  local s = class.name_of(self) .. "("
  if nextra == 1 and #lines == 1 then
    s = s .. lines[1]
  elseif #lines > 0 then
    s = s .. "\n  " .. table.concat(lines, "\n  ") .. "\n"
  end
  return s .. ")"
end

Module.StateDict = StateDict

return Module
