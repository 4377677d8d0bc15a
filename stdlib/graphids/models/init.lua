-- graphids.models -- the intrusion-detection models (being written).
return {}
