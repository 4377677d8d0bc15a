-- specenv.lua -- what the data, io, gnn and model specs share about their surroundings: scratch
-- directories, the real CAN data, the peer Python, and the message of an expected error.
--   local env = require "specenv"
--   local dir = env.tmpdir()                              -- a new empty directory
--   if skip.unless(env.have_data("hcrl_sa"), env.DATA .. "/hcrl_sa is absent") then return end
--   if skip.unless(env.peer_has("torch_geometric"), env.PEER_VENV .. " has no PyG") then return end
--   assert.matches("expected", env.err_of(f, 1, 2))
local M = {}

-- The real CAN traffic (never copied into the repo).  GRAPHIDS_TEST_DATA, else the product's
-- GRAPHIDS_DATA_ROOT, else ../shared/data/can beside the project root (specs run from the root).
-- Made absolute, so a spec may hand it to a process running elsewhere.
local cwd = os.getenv("PWD")
M.DATA = os.getenv("GRAPHIDS_TEST_DATA") or os.getenv("GRAPHIDS_DATA_ROOT")
  or ((cwd and cwd ~= "" and cwd .. "/" or "") .. "../shared/data/can")

-- The peer Python environment of tools/peer-venv.sh (torch, PyG, polars, ...).
M.PEER_VENV = os.getenv("GRAPHIDS_PEER_VENV")
  or ((os.getenv("HOME") or "") .. "/.cache/graphids-peer")
M.PEER_PYTHON = M.PEER_VENV .. "/bin/python"

-- s (any value, through tostring) as one word for the shell.
local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

-- A new empty directory under the system's temporary directory.
function M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. quote(d)), "cannot create " .. d)
  return d
end

-- True when DATA (or DATA/sub) is a directory.
function M.have_data(sub)
  local path = sub and (M.DATA .. "/" .. sub) or M.DATA
  return os.execute("test -d " .. quote(path)) == true
end

-- True when the peer Python imports every module named (a comma-separated list).
function M.peer_has(modules)
  return os.execute(quote(M.PEER_PYTHON) .. " -c " .. quote("import " .. modules) ..
    " >/dev/null 2>&1") == true
end

-- The message of the error f(...) raises; fails the spec when it raises none.
function M.err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end

return M
