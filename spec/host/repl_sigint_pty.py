#!/usr/bin/env python3
"""repl_sigint_pty.py HOST -- Ctrl-C during a long C call in the graphids REPL, through a
pseudo-terminal, for host_spec.lua: the second press only says that the call is running and
that two more quit, the call then ends with "interrupted!" and the REPL lives on; the fourth
press in one call kills the process with SIGINT.  Prints "ok" on success; any failure raises."""
import os
import signal
import sys
import time

import pexpect

host = sys.argv[1]
p = pexpect.spawn(host, encoding="utf-8", timeout=10, env=dict(os.environ, TERM="dumb"))
p.expect("Ctrl-D exits")
p.expect("> ")
# a C call that no signal shortens (graphids.sleep returns at a signal): a product of two
# [5000, 5000] matrices on one thread, 250 GFLOP, some seconds on any one core
p.send("graphids.set_num_threads(1); a = graphids.rand(5000, 5000)\n")
p.expect("> ")
p.send("x = 1; b = a:matmul(a)\n")
p.expect(r"matmul\(a\)\r\n")
time.sleep(0.3)
p.sendcontrol("c")
time.sleep(0.2)
p.sendcontrol("c")
p.expect(r"Ctrl-C twice more quits")
p.expect("interrupted!")  # when the call returned
p.expect("> ")
if not p.isalive():
    raise SystemExit("the REPL died after two presses")
p.send("x + 41\n")
p.expect("42\r\n")  # the session is intact
p.send("b = a:matmul(a)\n")
p.expect(r"matmul\(a\)\r\n")
time.sleep(0.3)
for _ in range(3):
    p.sendcontrol("c")
    time.sleep(0.2)
if not p.isalive():
    raise SystemExit("the REPL died after three presses")
p.sendcontrol("c")
p.expect(pexpect.EOF, timeout=5)
p.close()
if p.signalstatus != signal.SIGINT:
    raise SystemExit("ended with status %r, signal %r, not SIGINT" % (p.exitstatus, p.signalstatus))
print("ok")
