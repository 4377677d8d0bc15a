"""A stand-in for fault cases a real MLflow server cannot produce on demand (spec/track).

    python flaky_proxy.py PORT_FILE UPSTREAM FAILURES STATUS [BODY [PATH [forward]]]

Listens on a free loopback port (written to PORT_FILE), answers the first FAILURES requests
with STATUS (and Retry-After: 0; STATUS 200 sends an HTML page instead of JSON), then forwards
every request to UPSTREAM (a real mlflow server) and relays its answer.  BODY, when given,
is sent instead as the failing answer (JSON: a server answering garbage); PATH limits the
failures to requests whose path contains it (the others are forwarded); "forward" sends the
failing requests upstream all the same (the server did the work, its answer was lost).  FAILURES = -1 fails forever.  Each request line is appended to
PORT_FILE + ".log" as "<status> <method> <path> <authorization>" so specs can count tries and
check headers.
"""
import http.server
import sys
import urllib.error
import urllib.request

port_file, upstream, failures, status = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body_arg = sys.argv[5].encode() if len(sys.argv) > 5 else None
path_arg = sys.argv[6] if len(sys.argv) > 6 else None
forward = len(sys.argv) > 7 and sys.argv[7] == "forward"
count = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        auth = self.headers.get("Authorization") or "-"
        matches = path_arg is None or path_arg in self.path
        if matches:
            count[0] += 1
        failing = matches and (failures < 0 or count[0] <= failures)
        if not failing or forward:
            req = urllib.request.Request(upstream + self.path, data=body, method=self.command)
            for k in ("Content-Type", "Authorization"):
                if self.headers.get(k):
                    req.add_header(k, self.headers[k])
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    code, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
            except urllib.error.HTTPError as e:
                code, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if failing:
            if body_arg is not None:
                code, data, ctype = status, body_arg, "application/json"
            elif status == 200:  # an auth proxy's login page: a 200 that is not MLflow's JSON
                code, data, ctype = 200, b"<html><body>Please log in</body></html>", "text/html"
            else:
                code, data, ctype = status, b'{"error_code":"TEMPORARILY_UNAVAILABLE","message":"flaky"}', "application/json"
        with open(port_file + ".log", "a") as f:
            f.write("%d %s %s %s\n" % (code, self.command, self.path, auth))
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if code != 200:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
