#!/usr/bin/env python3
"""Keep-alive clients against HOST:PORT, for tests/e2e-keepalive.sh.

  keepalive-load.py HOST PORT CLIENTS SECONDS PATH...

CLIENTS threads, each with one persistent HTTP/1.1 connection
(http.client), send GET requests for the PATHs in turn for SECONDS.  A
response that says "Connection: close" is followed by a new connection,
as any client does; what counts as a transport error is a request sent
on an open connection that got no response at all (the connection was
closed or reset under it), or a connection refused or timed out.  Prints
one line, "requests N ok M transport-errors E non-2xx X worst-ms W" (W:
the longest a request took, connecting included), then one line per
kind of error seen, and exits 0.
"""
import http.client
import sys
import threading
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    clients, seconds = int(sys.argv[3]), float(sys.argv[4])
    paths = sys.argv[5:] or ["/"]
    lock = threading.Lock()
    tally = {"requests": 0, "ok": 0, "errors": 0, "non2xx": 0, "worst": 0.0}
    kinds = {}
    end = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        i = 0
        while time.monotonic() < end:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.monotonic()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                good = 200 <= r.status < 400
                err = None
            except (http.client.HTTPException, OSError) as e:
                err = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            took = time.monotonic() - t0
            with lock:
                tally["requests"] += 1
                tally["worst"] = max(tally["worst"], took)
                if err is not None:
                    tally["errors"] += 1
                    kinds[err] = kinds.get(err, 0) + 1
                elif good:
                    tally["ok"] += 1
                else:
                    tally["non2xx"] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests %d ok %d transport-errors %d non-2xx %d worst-ms %d"
          % (tally["requests"], tally["ok"], tally["errors"],
             tally["non2xx"], tally["worst"] * 1000))
    for k, n in sorted(kinds.items()):
        print("error %s %d" % (k, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
