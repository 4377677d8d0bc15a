-- linear_regression_spec.lua -- the hand-written-gradient example recovers the model it drew
-- its data from, and says so; it fails loudly (exit 1) when the fit is off.
local build = os.getenv("GRAPHIDS_BUILD") or "build"
local host = build .. "/bin/graphids"

describe("the linear_regression example", function()
  it("recovers w and b under `graphids run` and exits 0", function()
    local p = io.popen(host .. " run recipes/examples/linear_regression.lua 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    assert.matches("rc=0\n$", out)
    assert.matches("step 200  loss 0%.0000", out)
    local err = tonumber(out:match("max |w %- w%*| = (%S+),"))
    assert.is_true(err ~= nil and err < 1e-2, out)
    assert.matches("5 live tensors after a GC", out, 1, true)
  end)
end)
