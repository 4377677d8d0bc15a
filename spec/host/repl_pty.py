#!/usr/bin/env python3
"""repl_pty.py HOST -- drives the graphids REPL through a pseudo-terminal for host_spec.lua:
Tab completion, Ctrl-C at the prompt (drops the line), Ctrl-C in a running loop (interrupts it,
the REPL lives on), Ctrl-D (exits 0).  Prints "ok" on success; any failure raises."""
import os
import sys
import time

import pexpect

host = sys.argv[1]
p = pexpect.spawn(host, encoding="utf-8", timeout=10, env=dict(os.environ, TERM="dumb"))
p.expect("Ctrl-D exits")
p.expect("> ")
p.send("graphids.zeros_l\t")
p.expect("zeros_like")
p.sendcontrol("u")
p.send("t = graphids.ones(3)\n")
p.expect("> ")
p.send("t:num\t")
p.expect("numel")
p.send("()\n")
p.expect("3\r\n")
p.send("'cancelled'")
p.expect("cancelled'")  # echoed: readline has taken every key before the Ctrl-C
p.sendcontrol("c")
p.expect("> ")
p.send("'alive'\n")
p.expect("alive\r\n")
p.send("while true do end\n")
p.expect(r"while true do end\r\n")
time.sleep(0.3)
p.sendcontrol("c")
p.expect("interrupted!")
p.expect("> ")
# a short string continued by a backslash at the end of its line: its history entry must keep the
# newline (joined by a space, "a\ b" would not load)
p.send('s = "a\\\n')
p.expect(">> ")
p.send('b"\n')
p.expect("> ")
p.send("#s\n")
p.expect("3\r\n")
p.send("6 * 7\n")
p.expect("42\r\n")
p.sendeof()
p.expect(pexpect.EOF)
p.close()
if p.exitstatus != 0:
    raise SystemExit("exit status %r" % p.exitstatus)
print("ok")
