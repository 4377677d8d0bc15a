-- filestore_paths_spec.lua -- the paths a FileStore names: the artifact locations it writes
-- into meta.yaml, percent-encoded as MLflow's FileStore writes them (a folder holding a
-- space, '%', '#' or a non-ASCII letter), read back by MLflow's own client (Python, with
-- MLFLOW_ALLOW_FILE_STORE=true), and MLflow's URI helpers compared with graphids' own.
local artifact_uri = require "graphids.track.artifact_uri"
local core = require "graphids.core"
local filestore = require "graphids.track.filestore"
local fixture = require "track.support.fixture"
local json = require "graphids.json"
local server = require "track.mlflow_server"
local skip = require "skip"

local ALLOW = "MLFLOW_ALLOW_FILE_STORE=true"

-- Python text that binds `root` to s and `c` to MLflow's client of the FileStore there, by
-- the URI MLflow itself makes of the folder (a plain path would have its %XX decoded).
local function client_at(s)
  return string.format("import pathlib\nroot = json.loads(%q)\n" ..
    "c = mlflow.MlflowClient(pathlib.Path(root).as_uri())\n", json.encode(s))
end

describe("graphids.track FileStore's artifact locations", function()
  local dir, py, why
  setup(function() py, why = server.python() end)
  fixture.tmpdir_each(function(d) dir = d end)

  it("are percent-encoded as MLflow writes them, and MLflow's client reads them back", function()
    if skip.unless(py, "no MLflow: " .. tostring(why)) then return end
    -- (the "/./" and the trailing "/" go, as os.path.abspath takes them out)
    local folder = dir .. "/sp ace 100%25 #1 ?q;é~"
    local root = folder .. "/./mlruns/"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("by graphids"))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "g", tags = {} }))
    local got = server.query("file:///unused", client_at(root) .. string.format([[
from mlflow.utils.file_utils import local_file_uri_to_path
e = c.create_experiment("by mlflow")
r = c.create_run(e)
g = c.get_run(%q)
out = {"mlflow_exp": [e, c.get_experiment(e).artifact_location],
       "mlflow_run": [r.info.run_id, r.info.artifact_uri],
       "exp": c.get_experiment(%q).artifact_location, "run": g.info.artifact_uri,
       "path": local_file_uri_to_path(g.info.artifact_uri)}]], id, exp), ALLOW)
    local m_exp, m_loc = got.mlflow_exp[1], got.mlflow_exp[2]
    -- MLflow's own: the root as a file URI, then the id; a run's: then <run>/artifacts
    local base = "file://" .. (folder .. "/mlruns"):gsub("[^%w_%.%-~/]", function(c)
      return string.format("%%%02X", c:byte())
    end)
    assert.equal(base .. "/" .. m_exp, m_loc)
    assert.equal(m_loc .. "/" .. got.mlflow_run[1] .. "/artifacts", got.mlflow_run[2])
    -- graphids' experiment and run read back alike, naming the run's own artifacts folder
    assert.equal(base .. "/" .. exp, got.exp)
    assert.equal(got.exp .. "/" .. id .. "/artifacts", got.run)
    assert.equal(folder .. "/mlruns/" .. exp .. "/" .. id .. "/artifacts", got.path)
    assert.equal("dir", (core.stat(got.path) or {}).type)
    -- a graphids run in MLflow's experiment goes under that experiment's artifact_location
    local id2 = assert(fs:create_run({ experiment_id = m_exp, run_name = "g2", tags = {} }))
    local uri = server.query("file:///unused", client_at(root) ..
      string.format("out = c.get_run(%q).info.artifact_uri", id2), ALLOW)
    assert.equal(m_loc .. "/" .. id2 .. "/artifacts", uri)
  end)

  it("encode an older graphids' unencoded experiment location for new runs, leaving meta.yaml", function()
    local gio = require "graphids.io"
    local root = dir .. "/a #1 ?q 100%25/./mlruns"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("old"))
    local meta_path = root .. "/" .. exp .. "/meta.yaml"
    -- as an older graphids wrote it: "file://" .. root .. "/" .. id, raw (the root as it was
    -- spelled then: normalised, it is the same folder)
    local raw = "file://" .. dir .. "/a #1 ?q 100%25/mlruns/" .. exp
    local old = gio.read_file(meta_path):gsub("artifact_location: [^\n]*", function()
      return "artifact_location: '" .. raw .. "'"
    end)
    assert.matches(raw, old, 1, true)
    assert(core.atomic_write(meta_path, old))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r", tags = {} }))
    local meta = gio.read_file(root .. "/" .. exp .. "/" .. id .. "/meta.yaml")
    local want = artifact_uri.local_file_uri(root) .. "/" .. exp .. "/" .. id .. "/artifacts"
    assert.equal(want, filestore.yaml_get(meta, "artifact_uri"))
    assert.matches("%%23", want) -- (the raw one's '#' began a fragment: a folder outside the store)
    assert.equal(old, gio.read_file(meta_path))
    -- a location that is not this experiment's folder unencoded is the experiment's own choice
    local others = { "file://" .. dir .. "/elsewhere/" .. exp, "s3://bucket/x", "file:" .. dir .. "/a" }
    for _, loc in ipairs(others) do
      assert(core.atomic_write(meta_path, (old:gsub("artifact_location: [^\n]*", function()
        return "artifact_location: '" .. loc .. "'"
      end))))
      id = assert(fs:create_run({ experiment_id = exp, run_name = "r", tags = {} }))
      meta = gio.read_file(root .. "/" .. exp .. "/" .. id .. "/meta.yaml")
      assert.equal(artifact_uri.append(loc, id .. "/artifacts"), filestore.yaml_get(meta, "artifact_uri"))
    end
  end)

  it("are made as MLflow's path_to_local_file_uri and append_to_uri_path make them", function()
    if skip.unless(py, "no MLflow: " .. tostring(why)) then return end
    local paths = { "/tmp/sp ace%25 #h/é/mlruns", "/tmp/a/./b/../c//d/", "//two/x", "///three/x", "/", "/..",
      "/t/~_.-/;=+&@:,$!'()*[]?\1\127" }
    local uris = { "file:///tmp/a%20b/1", "file:/tmp/x/1", "file://localhost/tmp/1", "mlflow-artifacts:/1",
      "s3://b/p", "s3://b", "/abs/p/1", "rel/p", "file:rel/1", "file:///tmp/x/1/", "file:///tmp/x?q=1#f",
      "file:///tmp/x;p/1", "hdfs://h:9000/x", "file:///", "http://h/x;p", "http://h/x;p?q#f", "HTTP://H/x",
      "s3://b?x=1", "gs://b/p#frag", "x:y" }
    local want = server.query("file:///unused", string.format([=[
from mlflow.utils.file_utils import path_to_local_file_uri
from mlflow.utils.uri import append_to_uri_path
d = json.loads(%q)
out = {"paths": [path_to_local_file_uri(p) for p in d["paths"]],
       "uris": [append_to_uri_path(u, "RUN", "artifacts") for u in d["uris"]]}]=],
      json.encode({ paths = paths, uris = uris })), ALLOW)
    for i, p in ipairs(paths) do assert.equal(want.paths[i], artifact_uri.local_file_uri(p), p) end
    for i, u in ipairs(uris) do assert.equal(want.uris[i], artifact_uri.append(u, "RUN/artifacts"), u) end
  end)
end)

describe("graphids.track FileStore's path lengths", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)
  local mlflow = require "graphids.track.mlflow"
  local spool = require "graphids.track.spool"
  local track = require "graphids.track"

  -- A folder under dir of exactly n bytes (parts of at most 250 bytes: a name holds 255).
  local function folder_of(n)
    local path = dir
    while #path + 251 < n do path = path .. "/" .. ("d"):rep(250) end
    return path .. "/" .. ("m"):rep(n - #path - 1)
  end

  it("refuses a folder too long for the store's files, naming it and the limit", function()
    local root = folder_of(filestore.PATH_MAX - filestore.RESERVE)
    local limit = filestore.PATH_MAX - 1 - filestore.RESERVE
    local said = string.format("the FileStore folder %s...%s is %d bytes long: the store's files lie up " ..
      "to %d bytes below it, and a path holds at most 4095 bytes here (PATH_MAX 4096); use a folder of at " ..
      "most %d bytes", root:sub(1, 80), root:sub(-80), #root, filestore.RESERVE, limit)
    assert.same({ nil, "FileStore: " .. said }, { filestore.new(root) })
    assert.same({ nil, "tracking URI: " .. said }, { mlflow.classify("file:" .. root) })
    assert.same({ nil, "tracking URI: " .. said }, { mlflow.classify(root) })
    -- a fit's events are spooled with it said once, and a sync to it says it again
    local run_dir = dir .. "/run"
    local err = fixture.stderr_of(function()
      local run = track.start_fit_run(run_dir, { uri = root, experiment = "e", run_name = "r" })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    assert.matches(said, err, 1, true)
    local ok, why = spool.sync(run_dir, { notify = function() end })
    assert.is_nil(ok)
    assert.equal("event 1 (create_run): tracking URI: " .. said, why)
    -- one byte less: the store's files fit
    root = folder_of(limit)
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    local id = assert(fs:create_run({ experiment_id = exp, run_name = "r",
      tags = { { key = "t", value = "v" } } }))
    assert(fs:update_run(id, "FINISHED", 5))
    assert.equal("v", require("graphids.io").read_file(root .. "/" .. exp .. "/" .. id .. "/tags/t"))
  end)

  it("refuses a folder with a name too long for a file name, naming the name and the limit", function()
    local part = ("n"):rep(filestore.NAME_MAX + 1)
    local root = dir .. "/" .. part .. "/mlruns"
    local said = string.format("the FileStore folder %s has a name of 256 bytes, '%s...%s': a file or " ..
      "folder name holds at most 255 bytes here (NAME_MAX 255); use shorter folder names",
      root:sub(1, 80) .. "..." .. root:sub(-80), part:sub(1, 80), part:sub(-80))
    assert.same({ nil, "FileStore: " .. said }, { filestore.new(root) })
    assert.same({ nil, "tracking URI: " .. said }, { mlflow.classify("file://" .. root) })
    assert.same({ nil, "tracking URI: " .. said }, { mlflow.classify(root) })
    -- (classify is stage.train's check before the fit) a sync to it says so, not "File name too
    -- long" from mkdir
    local run_dir = dir .. "/run"
    fixture.stderr_of(function()
      local run = track.start_fit_run(run_dir, { uri = root, experiment = "e", run_name = "r" })
      run:log_metrics({ loss = 1 }, 0)
      run:finish("FINISHED")
    end)
    local ok, why = spool.sync(run_dir, { notify = function() end })
    assert.is_nil(ok)
    assert.equal("event 1 (create_run): tracking URI: " .. said, why)
    -- a name of 255 bytes is a name
    root = dir .. "/" .. ("n"):rep(filestore.NAME_MAX) .. "/mlruns"
    local fs = assert(filestore.new(root))
    local exp = assert(fs:get_or_create_experiment("e"))
    assert(fs:create_run({ experiment_id = exp, run_name = "r", tags = {} }))
  end)

  it("refuses a batch whose key's file would be too long, and the run goes on", function()
    local root = folder_of(filestore.PATH_MAX - 1 - filestore.RESERVE)
    local run_dir = dir .. "/run"
    local key = ("k"):rep(200)
    local err = fixture.stderr_of(function()
      local run = track.start_fit_run(run_dir, { uri = root, experiment = "e", run_name = "r" })
      assert.equal("refused", run:log_metrics({ [key] = 1 }, 0))
      assert.equal("sent", run:log_metrics({ loss = 1 }, 0))
      run:finish("FINISHED")
      assert.is_nil(run.spooling)
    end)
    assert.matches("refused log_batch: FileStore: metrics of run %x+: key '" .. key .. "' would be the " ..
      "file .-, of 4%d%d%d bytes: a path holds at most 4095 bytes here %(PATH_MAX 4096%); the event " ..
      "is set aside", err)
    assert.is_nil(require("graphids.io").read_file(spool.path(run_dir)))
  end)
end)
