#!/usr/bin/env python3
"""Regenerates ferrous-core/src/commands/data/*.resp from a running Redis 7.0.

The files hold Redis's own RESP3 replies to `COMMAND INFO` and `COMMAND DOCS`; Ferrous
parses them at start-up so that its command metadata (arity, flags, key positions, ACL
categories, docs) is exactly Redis's. Usage: gen_command_data.py [port]
"""
import socket, sys, os

port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
out_dir = os.path.join(os.path.dirname(__file__), "..", "ferrous-core", "src", "commands", "data")

def read_reply(f):
    """Returns the raw bytes of one RESP3 reply."""
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    raw = line
    if t in b"$=!":
        n = int(rest)
        if n >= 0:
            raw += f.read(n + 2)
    elif t in b"*~>%|":
        n = int(rest)
        if n > 0:
            for _ in range(n * (2 if t in b"%|" else 1)):
                raw += read_reply(f)
    return raw

def command(f, s, *args):
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    s.sendall(req)
    return read_reply(f)

s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
command(f, s, b"HELLO", b"3")
os.makedirs(out_dir, exist_ok=True)
for name, args in (("command-info.resp", [b"COMMAND", b"INFO"]), ("command-docs.resp", [b"COMMAND", b"DOCS"])):
    data = command(f, s, *args)
    with open(os.path.join(out_dir, name), "wb") as out:
        out.write(data)
    print(name, len(data), "bytes")
