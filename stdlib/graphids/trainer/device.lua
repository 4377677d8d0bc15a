-- graphids.trainer.device -- models and batches on a trainer's device, for the trainer and for
-- whatever runs a model outside it (the stage verbs' predictions and calibrations).
--   local D = require "graphids.trainer.device"
--   D.model(model, trainer.device)                     -- moved there unless the device is "cpu"
--   batch = D.batch(batch, trainer.device)             -- a batch on the device
--   model:calibrate(D.batches(loader:iter(0), trainer.device))
-- A data module built with the device gives its batches there already; anything else is moved
-- (M.batch).  On "cpu" everything is left as it is (CPU batches are what loaders make).
local graphids = require "graphids"

local M = {}

-- true when device names a device a trainer (or the extract stage) can run on: "cpu", "cuda"
-- or "cuda:N".  Whether that device exists is found when the model is moved there.
function M.valid(device)
  return type(device) == "string" and (device == "cpu" or device == "cuda" or
    device:match("^cuda:%d+$") ~= nil)
end

-- The CUDA index of a trainer device ("cuda" -> 0, "cuda:N" -> N), nil for another device:
-- graphids.gpu's functions take the index, not the trainer's device name.
function M.cuda_index(device)
  if device == "cuda" then return 0 end
  local n = type(device) == "string" and device:match("^cuda:(%d+)$")
  return n and math.tointeger(tonumber(n)) or nil
end

-- The model on device (moved in place; the trainer does the same at fit and test).
function M.model(model, device)
  if device ~= "cpu" then
    model:to(device)
  end
  return model
end

-- batch on device: a batch with :to (graph batches) is moved with it unless its x is there
-- already; a plain table of tensors (the fusion states' batches) becomes a copy with every
-- tensor field moved; anything else is returned as it is.
function M.batch(batch, device)
  if device == "cpu" or type(batch) ~= "table" then
    return batch
  end
  if type(batch.to) == "function" then
    if graphids.is_tensor(batch.x) and batch.x.device == device then
      return batch
    end
    return batch:to(device)
  end
  local moved = {}
  for k, v in pairs(batch) do
    moved[k] = graphids.is_tensor(v) and v:to(device) or v
  end
  return moved
end

-- An iterator function over the batches of iter (an iterator function returning batch, ...),
-- each on device.
function M.batches(iter, device)
  if device == "cpu" then
    return iter
  end
  return function()
    local batch, i = iter()
    if batch == nil then
      return nil
    end
    return M.batch(batch, device), i
  end
end

return M
