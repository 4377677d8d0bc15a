-- graphids.nn.gnn -- graph layers (being written); nn/init.lua merges this table into nn.
return {}
