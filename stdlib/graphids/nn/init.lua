-- graphids.nn -- neural-network modules, initialisers and functional ops, after torch.nn.
--   local nn = require "graphids.nn"
--   local model = nn.Sequential(nn.Linear(35, 256), nn.ReLU(), nn.Linear(256, 2))
--   local loss = nn.functional.cross_entropy(model(x), y)
--   loss:backward()
--   print(model)                       -- indented tree, torch's repr
--   local sd = model:state_dict()      -- "0.weight", "0.bias", "2.weight", "2.bias"
--
-- nn.Module (module.lua) is the base class; subclass it with graphids.class.
-- nn.functional: stateless layers and losses; nn.init: torch.nn.init's initialisers;
-- nn.StateDict: the ordered name -> tensor map state_dict returns;
-- nn.Parameter(t, requires_grad?): a detached leaf view of t with requires_grad set.
local U = require "graphids.nn._util"

local nn = {}

nn.Module = require "graphids.nn.module"
nn.StateDict = require "graphids.nn.state_dict"
nn.functional = require "graphids.nn.functional"
nn.init = require "graphids.nn.initializers"

local files = { "containers", "linear", "embedding", "dropout", "normalization", "activation",
  "rnn", "loss", "gnn" }
for _, file in ipairs(files) do
  -- a value past the last parameter of a layer's forward is an error, as torch's TypeError
  -- (nn.Linear(2, 3)(x, y) would drop y silently); a forward taking `...` is left as it is
  local layers = U.refuse_extra_forward_arguments(require("graphids.nn." .. file))
  for name, cls in pairs(layers) do
    assert(nn[name] == nil, "graphids.nn: " .. name .. " defined twice")
    nn[name] = cls
  end
end

function nn.Parameter(t, requires_grad)
  if t.detach then
    t = t:detach()
  end
  return U.as_parameter(t, requires_grad)
end

return nn
