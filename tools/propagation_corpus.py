#!/usr/bin/env python3
"""Propagation corpus generator / checker (oracle: redis-server 7.0).

Runs every case of tests/data/propagation/*.txt against a real redis-server and
records what Redis writes to its AOF (and, as a cross-check, to a replica link)
for the case's commands. See tests/data/propagation/README.md for the format.

  python3 tools/propagation_corpus.py --check          # compare, print differences
  python3 tools/propagation_corpus.py --write          # regenerate the '=' lines
  python3 tools/propagation_corpus.py --check strings  # only strings.txt

Standard library only. Talks only to 127.0.0.1; every wait is bounded; the
server it starts is killed on exit.
"""

import argparse
import difflib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.path.normpath(os.path.join(HERE, "..", "tests", "data", "propagation"))
IO_TIMEOUT = 5.0  # seconds, any single socket wait
DAY_MS = 86_400_000
DAY_S = 86_400


class CaseError(Exception):
    pass


# --------------------------------------------------------------------------- quoting

PLAIN = re.compile(rb"^[\x21-\x7e]+$")


def quote(arg: bytes) -> str:
    """Render one argument: bare if plain printable, else "double quoted" with \\xNN."""
    if PLAIN.match(arg) and b'"' not in arg and b"\\" not in arg and not arg.startswith(b"<"):
        return arg.decode("ascii")
    out = ['"']
    for b in arg:
        if b == 0x22:
            out.append('\\"')
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    out.append('"')
    return "".join(out)


def split_args(text: str):
    """Split a line into arguments. Returns a list of (bytes, was_quoted)."""
    args = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
            continue
        if c == '"':
            i += 1
            buf = bytearray()
            while True:
                if i >= n:
                    raise CaseError("unterminated quote in: " + text)
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= n:
                        raise CaseError("dangling backslash in: " + text)
                    e = text[i + 1]
                    if e == "x":
                        buf.append(int(text[i + 2:i + 4], 16))
                        i += 4
                        continue
                    buf.extend({"n": b"\n", "r": b"\r", "t": b"\t", '"': b'"', "\\": b"\\"}[e])
                    i += 2
                    continue
                buf.extend(c.encode("utf-8"))
                i += 1
            if i < n and text[i] not in " \t":
                raise CaseError("quote must end an argument in: " + text)
            args.append((bytes(buf), True))
        else:
            j = i
            while j < n and text[j] not in " \t":
                j += 1
            args.append((text[i:j].encode("utf-8"), False))
            i = j
    return args


# --------------------------------------------------------------------------- RESP

def encode_command(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reply:
    def __init__(self, kind, value):
        self.kind = kind  # '+', '-', ':', '$', '*'
        self.value = value

    def __repr__(self):
        return "Reply(%r, %r)" % (self.kind, self.value)


class RespParser:
    """Incremental RESP2 parser over a byte buffer."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf.extend(data)

    def _parse(self, pos):
        """Return (reply, newpos) or None if incomplete."""
        buf = self.buf
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        t = chr(buf[pos])
        line = bytes(buf[pos + 1:end])
        pos = end + 2
        if t in "+-":
            return Reply(t, line), pos
        if t == ":":
            return Reply(t, int(line)), pos
        if t == "$":
            n = int(line)
            if n < 0:
                return Reply("$", None), pos
            if len(buf) < pos + n + 2:
                return None
            return Reply("$", bytes(buf[pos:pos + n])), pos + n + 2
        if t == "*":
            n = int(line)
            if n < 0:
                return Reply("*", None), pos
            items = []
            for _ in range(n):
                r = self._parse(pos)
                if r is None:
                    return None
                item, pos = r
                items.append(item)
            return Reply("*", items), pos
        raise CaseError("unexpected RESP type byte %r" % t)

    def pop(self):
        if not self.buf:
            return None
        r = self._parse(0)
        if r is None:
            return None
        reply, pos = r
        del self.buf[:pos]
        return reply


def reply_text(r):
    if r.kind == "*":
        if r.value is None:
            return "(nil array)"
        return "[" + ", ".join(reply_text(x) for x in r.value) + "]"
    if r.kind == "$":
        return "(nil)" if r.value is None else quote(r.value)
    if r.kind == "-":
        return "(error) " + r.value.decode("utf-8", "replace")
    if r.kind == "+":
        return r.value.decode("utf-8", "replace")
    return str(r.value)


class Conn:
    def __init__(self, port, name="?"):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = RespParser()
        self.pending = 0  # replies sent for but not read yet

    def send(self, args):
        self.sock.sendall(encode_command(args))
        self.pending += 1

    def readable(self, timeout=0.0):
        if self.parser.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def read_reply(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            r = self.parser.pop()
            if r is not None:
                self.pending -= 1
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise CaseError("timeout waiting for a reply on connection %s" % self.name)
            rr, _, _ = select.select([self.sock], [], [], left)
            if not rr:
                continue
            data = self.sock.recv(65536)
            if not data:
                raise CaseError("connection %s closed by server" % self.name)
            self.parser.feed(data)

    def call(self, *args, timeout=IO_TIMEOUT):
        args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.send(args)
        return self.read_reply(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ReplicaTap:
    """A fake replica (SYNC): receives the replication stream."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.buf = bytearray()
        self.sock.sendall(encode_command([b"SYNC"]))
        deadline = time.monotonic() + 30
        # Skip keepalive newlines, read the bulk header, then the RDB payload.
        while True:
            while self.buf[:1] == b"\n":
                del self.buf[:1]
            nl = self.buf.find(b"\r\n")
            if nl >= 0:
                break
            self._recv(deadline)
        header = bytes(self.buf[:nl])
        del self.buf[:nl + 2]
        if not header.startswith(b"$"):
            raise CaseError("unexpected SYNC reply %r" % header)
        if header.startswith(b"$EOF:"):
            mark = header[5:]
            while True:
                i = self.buf.find(mark)
                if i >= 0:
                    del self.buf[:i + len(mark)]
                    break
                self._recv(deadline)
        else:
            n = int(header[1:])
            while len(self.buf) < n:
                self._recv(deadline)
            del self.buf[:n]

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise CaseError("timeout on the replica link")
        r, _, _ = select.select([self.sock], [], [], left)
        if r:
            data = self.sock.recv(65536)
            if not data:
                raise CaseError("replica link closed")
            self.buf.extend(data)

    def read_until_marker(self, marker, timeout=IO_TIMEOUT):
        """Commands received up to (excluding) PUBLISH <marker> and a SELECT just before it."""
        deadline = time.monotonic() + timeout
        cmds = []
        while True:
            while True:
                cmd, used = parse_command(self.buf, 0)
                if cmd is None:
                    break
                del self.buf[:used]
                if cmd[0].upper() == b"PUBLISH" and len(cmd) == 3 and cmd[2] == marker:
                    if cmds and cmds[-1][0].upper() == b"SELECT":
                        cmds.pop()
                    return cmds
                if cmd[0].upper() == b"PING":
                    continue
                cmds.append(cmd)
            self._recv(deadline)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_command(buf, pos):
    """Parse one '*N $len arg...' command at pos. Returns (args, newpos) or (None, pos)."""
    if pos >= len(buf):
        return None, pos
    if buf[pos:pos + 1] != b"*":
        raise CaseError("bad command stream at %d: %r" % (pos, bytes(buf[pos:pos + 40])))
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None, pos
    n = int(buf[pos + 1:end])
    p = end + 2
    args = []
    for _ in range(n):
        end = buf.find(b"\r\n", p)
        if end < 0:
            return None, pos
        if buf[p:p + 1] != b"$":
            raise CaseError("bad bulk in command stream at %d" % p)
        ln = int(buf[p + 1:end])
        p = end + 2
        if len(buf) < p + ln + 2:
            return None, pos
        args.append(bytes(buf[p:p + ln]))
        p += ln + 2
    return args, p


def parse_commands(data):
    cmds, pos = [], 0
    while pos < len(data):
        cmd, npos = parse_command(data, pos)
        if cmd is None:
            raise CaseError("truncated command at end of AOF")
        cmds.append(cmd)
        pos = npos
    return cmds


# --------------------------------------------------------------------------- server

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="propagation-corpus-")
        self.port = free_port()
        self.log = os.path.join(self.dir, "redis.log")
        cmd = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--appendonly", "yes", "--appendfsync", "always",
            "--dir", self.dir, "--save", "", "--aof-use-rdb-preamble", "yes",
            # additions: DEBUG SET-ACTIVE-EXPIRE for the lazy-expiry cases, no
            # automatic rewrite under the test, no replica pings, a quick SYNC.
            "--enable-debug-command", "yes",
            "--auto-aof-rewrite-percentage", "0",
            "--repl-ping-replica-period", "3600",
            "--repl-timeout", "7200",
            "--repl-diskless-sync", "no",
            "--logfile", self.log,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                c = Conn(self.port, "probe")
                r = c.call("PING")
                c.close()
                if r.kind == "+":
                    break
            except (OSError, CaseError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("redis-server did not start (see %s)" % self.log)
            time.sleep(0.05)

    def incr_file(self):
        adir = os.path.join(self.dir, "appendonlydir")
        manifest = [f for f in os.listdir(adir) if f.endswith(".manifest")]
        if len(manifest) != 1:
            raise CaseError("expected one AOF manifest, found %r" % manifest)
        incr = None
        with open(os.path.join(adir, manifest[0]), "r") as fh:
            for line in fh:
                parts = line.split()
                kv = dict(zip(parts[0::2], parts[1::2]))
                if kv.get("type") == "i":
                    incr = kv["file"]  # the last incr file listed is the current one
        if incr is None:
            raise CaseError("no incr file in the AOF manifest")
        return os.path.join(adir, incr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- corpus

class Case:
    def __init__(self, path, lineno, lines):
        self.path = path
        self.lineno = lineno
        self.lines = lines  # all lines as written
        self.setup, self.actions, self.directives = [], [], []
        seen_action = False
        for ln in lines:
            if ln.startswith("#"):
                continue
            if ln.startswith("! "):
                self.directives.append(ln[2:].split())
            elif ln.startswith("+ "):
                if seen_action:
                    raise CaseError("%s:%d: '+' setup lines must come before '>' lines" % (path, lineno))
                self.setup.append(ln[2:])
            elif ln.startswith("> "):
                seen_action = True
                self.actions.append(ln[2:])
            elif ln.startswith("="):
                pass
            else:
                raise CaseError("%s:%d: unrecognized line %r" % (path, lineno, ln))
        if not lines or not lines[0].startswith("#"):
            raise CaseError("%s:%d: a case starts with a '# description' line" % (path, lineno))
        if not self.actions:
            raise CaseError("%s:%d: a case needs at least one '>' line" % (path, lineno))

    def render(self, expected):
        kept = [ln for ln in self.lines if not ln.startswith("=")]
        return "\n".join(kept + expected)


def read_corpus(path):
    with open(path, "r", encoding="utf-8") as fh:
        text = fh.read()
    cases, block, start = [], [], 1
    for i, line in enumerate(text.split("\n"), 1):
        line = line.rstrip()
        if line == "":
            if block:
                cases.append(Case(path, start, block))
                block = []
        else:
            if not block:
                start = i
            block.append(line)
    if block:
        cases.append(Case(path, start, block))
    return cases


TIME_TOKEN = re.compile(r"^<NOW_(MS|S)([+-]\d+)?>$")


def substitute(args):
    """Resolve <NOW_MS+n> / <NOW_S-n> argument placeholders to absolute times."""
    out = []
    for a, quoted in args:
        if not quoted:
            m = TIME_TOKEN.match(a.decode("utf-8", "replace"))
            if m:
                off = int(m.group(2) or 0)
                now = time.time()
                base = int(now * 1000) if m.group(1) == "MS" else int(now)
                a = str(base + off).encode()
        out.append(a)
    return out


def normalize(cmds, directives):
    now_ms = int(time.time() * 1000)
    now_s = now_ms // 1000
    any_rules = {}
    for d in directives:
        if not d or d[0] != "any" or len(d) < 2:
            raise CaseError("unknown directive: ! " + " ".join(d))
        if d[0] == "any":
            idx = [int(x) for x in d[2:]] or None
            any_rules[d[1].upper().encode()] = idx
    lines = []
    for cmd in cmds:
        rendered = []
        rule = any_rules.get(cmd[0].upper(), False)
        for i, a in enumerate(cmd):
            if rule is not False and ((rule is None and i >= 2) or (rule is not None and i in rule)):
                rendered.append("<ANY>")
                continue
            if re.fullmatch(rb"-?\d{1,19}", a):
                v = int(a)
                if abs(v - now_ms) <= DAY_MS:
                    rendered.append("<ABS_MS>")
                    continue
                if abs(v - now_s) <= DAY_S:
                    rendered.append("<ABS_S>")
                    continue
            m = re.fullmatch(rb"(\d{1,19})-(\d{1,19})", a)
            if m and abs(int(m.group(1)) - now_ms) <= DAY_MS:
                rendered.append("<ABS_MS>-" + m.group(2).decode())
                continue
            rendered.append(quote(a))
        lines.append(" ".join(rendered))
    return lines


class Runner:
    def __init__(self, server, verbose=False):
        self.server = server
        self.verbose = verbose
        self.ctl = Conn(server.port, "control")
        self.tap = ReplicaTap(server.port)
        self.marker_seq = 0
        self.sync_tap()

    def sync_tap(self, db=0):
        """Publish a marker (from db, the AOF's selected db, so that the replica
        stream's own SELECT state stays the AOF's) and read the replica stream up to it."""
        self.marker_seq += 1
        marker = b"m%d" % self.marker_seq
        if db:
            self.ctl_ok("SELECT", db)
        r = self.ctl.call("PUBLISH", "__propagation_corpus__", marker)
        if db:
            self.ctl_ok("SELECT", 0)
        if r.kind == "-":
            raise CaseError("PUBLISH failed: %r" % r)
        return self.tap.read_until_marker(marker)

    def ctl_ok(self, *args):
        r = self.ctl.call(*args)
        if r.kind == "-":
            raise CaseError("control command %r failed: %s" % (args, reply_text(r)))
        return r

    def blocked_clients(self):
        r = self.ctl_ok("INFO", "clients")
        m = re.search(rb"blocked_clients:(\d+)", r.value)
        return int(m.group(1))

    def reset(self):
        self.ctl_ok("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        for name in ("lazyfree-lazy-server-del", "lazyfree-lazy-expire",
                     "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush"):
            self.ctl_ok("CONFIG", "SET", name, "no")
        self.ctl_ok("SCRIPT", "FLUSH")
        self.ctl_ok("FUNCTION", "FLUSH")
        # Last, from db 0: leaves the AOF and replica streams with db 0 selected.
        self.ctl_ok("FLUSHALL")
        self.sync_tap()
        incr = self.server.incr_file()
        return incr, os.path.getsize(incr)

    def exec_line(self, conns, state, text, setup):
        args = split_args(text)
        if not args:
            return
        head, quoted = args[0]
        if not quoted and head.startswith(b"@"):
            d = head.decode()
            rest = [a for a, _ in args[1:]]
            if d == "@conn":
                name = rest[0].decode()
                if name not in conns:
                    conns[name] = Conn(self.server.port, name)
                state["cur"] = name
            elif d == "@db":
                r = conns[state["cur"]].call(b"SELECT", rest[0])
                if r.kind == "-":
                    raise CaseError("SELECT failed: " + reply_text(r))
            elif d == "@sleep":
                time.sleep(int(rest[0]) / 1000.0)
            elif d == "@async":
                c = conns[state["cur"]]
                before = self.blocked_clients()
                c.send(substitute(args[1:]))
                deadline = time.monotonic() + IO_TIMEOUT
                while not c.readable(0.01) and self.blocked_clients() <= before:
                    if time.monotonic() > deadline:
                        raise CaseError("@async command neither replied nor blocked")
            elif d == "@wait":
                c = conns[state["cur"]]
                while c.pending:
                    self.note(c.name, "(async)", c.read_reply())
            else:
                raise CaseError("unknown directive " + d)
            return
        c = conns[state["cur"]]
        if c.pending:
            raise CaseError("connection %s has an @async reply pending; use @wait or @conn" % c.name)
        r = c.call(*substitute(args))
        self.note(c.name, text, r)
        if setup and r.kind == "-":
            raise CaseError("setup command %r failed: %s" % (text, reply_text(r)))

    def note(self, conn, text, r):
        if self.verbose:
            print("    [%s] %s -> %s" % (conn, text, reply_text(r)), file=sys.stderr)

    def run(self, case):
        incr, reset_end = self.reset()
        conns = {"a": Conn(self.server.port, "a")}
        state = {"cur": "a"}
        try:
            for ln in case.setup:
                self.exec_line(conns, state, ln, True)
            if self.server.incr_file() != incr:
                raise CaseError("the AOF incr file changed during the case")
            with open(incr, "rb") as fh:
                fh.seek(reset_end)
                setup_bytes = fh.read()
            setup_cmds = parse_commands(setup_bytes)
            start = reset_end + len(setup_bytes)
            db = 0
            for c in setup_cmds:
                if c[0].upper() == b"SELECT":
                    db = int(c[1])
            self.sync_tap(db)
            for ln in case.actions:
                self.exec_line(conns, state, ln, False)
            # collect what is still pending (bounded); still-blocked clients are dropped
            for c in conns.values():
                end = time.monotonic() + 0.3
                while c.pending and time.monotonic() < end:
                    if c.readable(0.05):
                        self.note(c.name, "(async)", c.read_reply())
            repl = self.sync_tap()
            if self.server.incr_file() != incr:
                raise CaseError("the AOF incr file changed during the case")
            with open(incr, "rb") as fh:
                fh.seek(start)
                aof = parse_commands(fh.read())
        finally:
            for c in conns.values():
                c.close()
        return aof, repl

    def expected(self, case):
        aof, repl = self.run(case)
        a = normalize(aof, case.directives)
        r = normalize(repl, case.directives)
        if a == r:
            return ["= " + x for x in a]
        return ["=aof " + x for x in a] + ["=repl " + x for x in r]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="compare the corpus with redis-server")
    mode.add_argument("--write", action="store_true", help="rewrite the '=' lines from redis-server")
    ap.add_argument("files", nargs="*", help="corpus file names (e.g. strings or strings.txt); default all")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every reply")
    opts = ap.parse_args()

    if opts.files:
        names = [f if f.endswith(".txt") else f + ".txt" for f in opts.files]
    else:
        names = sorted(f for f in os.listdir(opts.corpus) if f.endswith(".txt"))
    paths = [os.path.join(opts.corpus, n) for n in names]

    server = Server(opts.redis_server)
    old = signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    failures, total, changed = 0, 0, 0
    try:
        runner = Runner(server, opts.verbose)
        for path in paths:
            cases = read_corpus(path)
            out = []
            for case in cases:
                total += 1
                if opts.verbose:
                    print("%s:%d %s" % (os.path.basename(path), case.lineno, case.lines[0]), file=sys.stderr)
                try:
                    exp = runner.expected(case)
                except CaseError as e:
                    failures += 1
                    print("ERROR %s:%d: %s" % (path, case.lineno, e))
                    out.append("\n".join(case.lines))
                    continue
                have = [ln for ln in case.lines if ln.startswith("=")]
                if have != exp:
                    changed += 1
                    if opts.check:
                        failures += 1
                        print("DIFF %s:%d %s" % (os.path.basename(path), case.lineno, case.lines[0]))
                        for d in difflib.unified_diff(have, exp, "corpus", "redis", lineterm="", n=0):
                            if not d.startswith(("---", "+++", "@@")):
                                print("    " + d)
                out.append(case.render(exp))
            if opts.write:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write("\n\n".join(out) + "\n")
    finally:
        signal.signal(signal.SIGTERM, old)
        server.stop()
    if opts.check:
        print("%d cases, %d differ or failed" % (total, failures))
    else:
        print("%d cases, %d rewritten, %d failed" % (total, changed, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
