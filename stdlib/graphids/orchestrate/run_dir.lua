-- graphids.orchestrate.run_dir -- what the stage verbs do to a run dir's folders, apart from
-- its files' contents: the lock a fit or test holds while it runs, the set-aside of a previous
-- run's results while a fit commits, and the folders a failed build made.
--   local rd = require "graphids.orchestrate.run_dir"
--   rd.with_lock(dir, false, fn, ...)        -- fn(...) holding dir/.stage.lock exclusively
--   local lk = rd.lock(dir, false, "its input's run dir")   -- shared; lk:unlock()
--   local aside = rd.set_aside({paths...})   -- aside:restore() | aside:discard()
--   local made = rd.first_missing(dir)       -- ... rd.holds_files(made)
--   rd.same_dir_key("./lake//x/")            -- "/cwd/lake/x": one key per folder, however spelled
local gio = require "graphids.io"
local U = require "graphids.nn._util"

local M = {}

-- The lock file of a run dir (docs/orchestration.md, "Files of a run dir"): a fit or a test holds
-- it exclusively while it runs, a pipeline stage also shared on its inputs' run dirs.
M.LOCK_FILE = ".stage.lock"

-- The run dirs whose lock this process holds through with_lock (a second lock of the same file
-- from the same process conflicts with the first: flock locks are per open file).
local held_here = {}

-- The last part of a runtime or io message ("EIO: stat: 'x': Permission denied" -> "Permission
-- denied"): the path is named by the caller.
function M.os_reason(err)
  return (tostring(err):gsub("^.*: ", ""))
end

-- Why a process cannot create an entry in the folder dir (read-only, or not ours to write), or
-- nil: tried with a file of its own, removed at once (permission bits alone do not say: root,
-- a read-only mount).
function M.write_problem(dir)
  local probe = gio.join(dir, string.format(".graphids-dry-run-%d", math.random(1, 1 << 30)))
  local f, err = io.open(probe, "w")
  if not f then return M.os_reason(err) end -- (io.open's message starts with the path)
  f:close()
  os.remove(probe)
  return nil
end

-- What a shared lock that could not be taken, and need not be, hands back.
local NO_LOCK = { unlock = function() end }

-- Takes dir's stage lock at once (exclusive or shared), or fails naming `what` dir and why.  The
-- kernel drops it when the process dies, so a killed run never blocks the next.  A shared lock
-- on a folder this process cannot write that holds no lock file is not taken, and the reader
-- goes on (a read-only lake of finished results is read as it is): nothing writes there now (a
-- fit or test holds the lock file, made by its exclusive lock), and this process cannot make
-- the file.  (A writer the owner starts later is not kept out: the reader cannot lock it out.)
function M.lock(dir, exclusive, what)
  local ok, err = gio.mkdir_p(dir)
  local lk, code
  local path = gio.join(dir, M.LOCK_FILE)
  if ok then
    lk, err, code = gio.lock(path, { exclusive = exclusive, timeout = 0 })
  end
  if not lk and ok and not exclusive and code ~= "ESTATE" and not gio.exists(path) and
      M.write_problem(dir) then
    return NO_LOCK
  end
  if not lk then
    local why = held_here[dir] and
      "is in use by this process (a stage verb called inside another of the same run dir)" or
      "is in use by another process (a fit, test or pipeline of this stage); run this one when it is done"
    error(string.format("%s %s %s", what, dir, code == "ESTATE" and why or
      ("cannot be locked: " .. tostring(err))), 0)
  end
  return lk
end

-- fn(...) with dir's lock held exclusively (nothing to hold without a run dir, or when the
-- caller holds it already: held, a pipeline stage's).  A test beside a fit of the same run dir
-- recorded the old model's metrics as the new fit's; a fit beside a test, the reverse.
function M.with_lock(dir, held, fn, ...)
  if dir == nil or held then return fn(...) end
  local lk = M.lock(dir, true, "the run dir")
  held_here[dir] = true
  local res = table.pack(pcall(fn, ...))
  held_here[dir] = nil
  lk:unlock()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- A folder path's absolute form with empty, "." and ".." components folded (lexically), so
-- that two spellings of one run dir compare equal (relative ones are taken from this process's
-- folder): the pipeline's one-stage-per-run-dir check, the tracking tag graphids.run_dir, and
-- the records of a tracking store grouped by run dir use it.
function M.same_dir_key(path)
  local parts = {}
  for part in require("graphids.track.mlflow").absolute_path(path):gmatch("[^/]+") do
    if part == ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- The outermost folder of path (path or an ancestor) that does not exist yet, or nil.
function M.first_missing(path)
  local missing
  while path ~= nil and path ~= "" and not gio.exists(path) do
    missing = path
    path = path:match("^(.*)/[^/]+$")
  end
  return missing
end

-- Whether dir holds a file anywhere below it (folders alone do not count).
function M.holds_files(dir)
  for _, e in ipairs(gio.list_dir(dir) or {}) do
    local p = gio.join(dir, e)
    if not gio.is_dir(p) or M.holds_files(p) then return true end
  end
  return false
end

-- The previous run's results, set aside while a fit commits (stage.lua's committer).  Each
-- result is renamed into a folder `.stale-1` beside it (its own folder: a checkpoints folder
-- linked to another disk moves within that disk), all or nothing: when one cannot be moved (a
-- folder of another user, a mount point) the ones already moved go back and the error names
-- it, and `restore` puts them all back if the commit fails later (the record cannot be
-- written).  So a refused commit leaves the finished run's record and results as they were.
-- (Removed one by one after the record was rewritten, a failure half-way left a record of a fit
-- that never ran beside the old checkpoints.)  `.stale-*` folders a killed commit left behind
-- go first, in every folder a result of paths lives in, whether or not anything is left there
-- to move (a commit killed after it set everything aside leaves nothing).
local Aside = {}
Aside.__index = Aside

local function parent_of(path)
  return path:match("^(.*)/[^/]+$") or "."
end

local function clear_leftovers(folder)
  for _, e in ipairs(gio.list_dir(folder) or {}) do
    if e:match("^%.stale%-%d+$") then gio.remove_tree(gio.join(folder, e)) end
  end
end

function M.set_aside(paths)
  local self = setmetatable({ trash = {}, moved = {} }, Aside)
  local cleared = {}
  for _, path in ipairs(paths) do
    local folder = parent_of(path)
    if not cleared[folder] then
      cleared[folder] = true
      clear_leftovers(folder)
    end
  end
  local function trash_in(folder)
    if self.trash[folder] == nil then
      local t = gio.join(folder, ".stale-1")
      local ok, err = gio.mkdir_p(t)
      if not ok then
        self:restore()
        error(string.format("cannot set aside the previous run's results in %s: %s", folder,
          tostring(err)), 0)
      end
      self.trash[folder] = t
    end
    return self.trash[folder]
  end
  for i, path in ipairs(paths) do
    if gio.exists(path) then
      local to = gio.join(trash_in(parent_of(path)), tostring(i))
      local ok, err = os.rename(path, to)
      if not ok then
        self:restore()
        error(string.format("cannot move %s, a result of the previous run, aside: %s", path,
          tostring(err)), 0)
      end
      self.moved[#self.moved + 1] = { path, to }
    end
  end
  return self
end

-- Puts every result back where it was and removes the stale folders.
function Aside:restore()
  for k = #self.moved, 1, -1 do os.rename(self.moved[k][2], self.moved[k][1]) end
  self.moved = {}
  self:discard()
end

-- Deletes the results set aside (the commit went through).  Returns the folders that could not
-- be removed, as {path, error} (the record is right; only the old bytes stay behind).
function Aside:discard()
  local kept = {}
  for _, folder in ipairs(U.sorted_keys(self.trash)) do
    local ok, err = gio.remove_tree(self.trash[folder])
    if not ok then kept[#kept + 1] = { self.trash[folder], tostring(err) } end
  end
  self.trash = {}
  return kept
end

return M
