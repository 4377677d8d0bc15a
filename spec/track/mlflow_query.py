"""Answers MLflow client queries for the tracking specs without a Python start-up per query.

    python mlflow_query.py PORT_FILE

Listens on a free loopback port (written to PORT_FILE).  POST / with a JSON body
{"uri": TRACKING_URI, "code": PYTHON} runs the code with `c = mlflow.MlflowClient(uri)` bound
and answers json.dumps(out) (NaN as the string "NaN"), or 500 with the traceback.
"""
import http.server
import json
import math
import os
import sys
import traceback
import warnings

warnings.simplefilter("ignore")
import mlflow  # noqa: E402


def plain(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            scope = {"c": mlflow.MlflowClient(req["uri"]), "mlflow": mlflow}
            exec(req["code"], scope)
            code, data = 200, json.dumps(plain(scope["out"]), sort_keys=True, default=str)
        except Exception:
            code, data = 500, traceback.format_exc()
        body = data.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
