-- windows_spec.lua -- graphids.sha256 / sha256_file, and (below) the window-graph builder,
-- vocabulary, split and scaler of graphids.data.windows.
local graphids = require "graphids"

describe("graphids.sha256", function()
  it("gives the FIPS 180-2 digests of short messages", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      graphids.sha256(""))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      graphids.sha256("abc"))
    assert.are.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
      graphids.sha256(string.rep("a", 1000000)))
  end)

  it("hashes embedded zero bytes", function()
    assert.are_not.equal(graphids.sha256("a\0b"), graphids.sha256("a"))
  end)

  it("hashes a file as its content and reports a missing file as nil, message, code", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("abc")
    f:close()
    assert.are.equal(graphids.sha256("abc"), graphids.sha256_file(path))
    os.remove(path)
    local ok, msg, code = graphids.sha256_file(path)
    assert.is_nil(ok)
    assert.are.equal("EIO", code)
    assert.matches("cannot open '" .. path:gsub("%p", "%%%0") .. "'", msg)
  end)

  it("rejects non-string arguments and extra arguments", function()
    assert.has_error(function() graphids.sha256({}) end)
    assert.has_error(function() graphids.sha256("a", "b") end)
  end)
end)
