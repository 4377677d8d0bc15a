-- graphids.orchestrate.columns -- the columns of a text table lined up when a cell holds text
-- that is not ASCII or is longer than its column's usual width (string.format's %-14s counts
-- bytes, and a long cell pushes the rest of its row).
--   local C = require "graphids.orchestrate.columns"
--   local w = C.widths({ 10, 14 }, { { "hcrl_sa", "gat_kd" }, { "déjà", "a_long_variant_name" } })
--   io.write(C.join({ "déjà", "gat_kd" }, w), "\n")   -- each cell padded to its column's width
-- A cell's width is the columns a terminal shows it in (graphids.orchestrate.display_width): a
-- wide character (CJK) takes two, a combining mark none; its bytes for text that is not UTF-8.
local W = require "graphids.orchestrate.display_width"

local M = {}

M.width = W.width

-- s left-aligned in a column `width` wide (as is when wider).
function M.pad(s, width)
  return s .. string.rep(" ", width - M.width(s))
end

-- The width of each column: its widest cell among rows (lists of strings), at least mins[i].
function M.widths(mins, rows)
  local w = table.move(mins, 1, #mins, 1, {})
  for _, row in ipairs(rows) do
    for i = 1, #mins do w[i] = math.max(w[i], M.width(row[i])) end
  end
  return w
end

-- The cells, each padded to its column's width, one space apart.
function M.join(cells, widths)
  local out = {}
  for i = 1, #widths do out[i] = M.pad(cells[i], widths[i]) end
  return table.concat(out, " ")
end

return M
