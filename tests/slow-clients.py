#!/usr/bin/env python3
"""Slow clients against HOST:PORT for SECONDS, for tests/e2e-slow-clients.sh.

  slow-clients.py HOST PORT SECONDS [BODIES [LORIS [INTERVAL]]]

BODIES (default 4) connections send a complete POST /login header with
Content-Length: 64, then one byte of the body every INTERVAL seconds
(default 2); LORIS (default 200) connections send "GET / HTTP/1.1",
a Host line, then one more header byte every INTERVAL seconds and never
the blank line.  A connection the server closes is opened again at
once, so the pressure stays the same throughout.  At the end prints one
line: "opened N closed-by-server M answered A" (A: connections that got
any bytes back, e.g. a 408) and exits 0.
"""
import selectors
import socket
import sys
import time


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    bodies = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    loris = int(sys.argv[5]) if len(sys.argv) > 5 else 200
    interval = float(sys.argv[6]) if len(sys.argv) > 6 else 2.0
    sel = selectors.DefaultSelector()
    stats = {"opened": 0, "closed": 0, "answered": 0}

    def open_one(kind):
        s = socket.create_connection((host, port))
        s.setblocking(False)
        if kind == "body":
            s.send(b"POST /login HTTP/1.1\r\nHost: %s\r\n"
                   b"Content-Type: application/x-www-form-urlencoded\r\n"
                   b"Content-Length: 64\r\n\r\nname=" % host.encode())
        else:
            s.send(b"GET / HTTP/1.1\r\nHost: %s\r\nX-Slow: " % host.encode())
        stats["opened"] += 1
        sel.register(s, selectors.EVENT_READ, kind)

    for _ in range(bodies):
        open_one("body")
    for _ in range(loris):
        open_one("loris")
    end = time.monotonic() + seconds
    next_drip = time.monotonic() + interval
    while time.monotonic() < end:
        timeout = max(0.0, min(next_drip, end) - time.monotonic())
        for key, _ in sel.select(timeout):
            s, kind = key.fileobj, key.data
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                stats["answered"] += 1
            sel.unregister(s)
            s.close()
            stats["closed"] += 1
            open_one(kind)
        if time.monotonic() >= next_drip:
            next_drip += interval
            for key in list(sel.get_map().values()):
                try:
                    key.fileobj.send(b"a")
                except OSError:
                    pass
    print("opened %d closed-by-server %d answered %d"
          % (stats["opened"], stats["closed"], stats["answered"]))
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
