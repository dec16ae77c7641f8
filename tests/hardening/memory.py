#!/usr/bin/env python3
"""A long-running FastCGI worker keeps a flat RSS over 100,000 requests.

    tests/hardening/memory.py BUILD_DIR [REQUESTS]

One FastCGI worker (--workers 1) serves REQUESTS (default 100,000)
requests from 3 client threads on keep-alive connections.  Each
visitor: GET /counter (a new session), GET /counter twice (updates),
POST /login (ID cycled), GET / (csrf), POST /theme (client state),
GET /counter, POST /logout (record deleted): 8 requests, and nothing
is left in the store afterwards, so the database (and SQLite's page
cache) stays small and any growth is the worker's own.

VmRSS of the worker (/proc/PID/status) is printed after 1,000 requests
(warm), 10,000 and at the end; the test fails when the end figure
exceeds the 10,000 figure by more than 5% + 256 KiB (the slack absorbs
page-granular noise of malloc and SQLite's caches), or when any request
fails.
"""
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlib  # noqa: E402
from hlib import Client  # noqa: E402

THREADS = 3
SLACK_KIB = 256
rep = hlib.Report("memory")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return None


class Run:
    def __init__(self, port, pid, total):
        self.port, self.pid, self.total = port, pid, total
        self.lock = threading.Lock()
        self.n = 0
        self.marks = {}
        self.bad = []
        self.stop = False

    def tick(self, r, what):
        with self.lock:
            self.n += 1
            n = self.n
            if self.n >= self.total:
                self.stop = True
        if r is None or r.status not in (200, 303):
            with self.lock:
                self.bad.append((what, r.status if r else None))
                if len(self.bad) > 50:
                    self.stop = True
        for mark in (1000, 10000):
            if n == mark:
                self.marks[mark] = (rss_kib(self.pid), time.monotonic())

    def client(self, t):
        c = Client(self.port)
        i = 0
        while not self.stop:
            i += 1
            c.cookies.clear()
            tok = None
            for method, path in (("GET", "/counter"), ("GET", "/counter"),
                                 ("GET", "/counter"), ("POST", "/login"),
                                 ("GET", "/"), ("POST", "/theme"),
                                 ("GET", "/counter"), ("POST", "/logout")):
                if self.stop:
                    break
                form = None
                if path == "/login":
                    form = {"name": "mem-%d-%d" % (t, i)}
                elif path == "/theme":
                    form = {"theme": "dark" if i % 2 else "light"}
                elif path == "/logout":
                    form = {"csrf": tok or ""}
                try:
                    r = c.request(method, path, body=form)
                except Exception:  # noqa: BLE001
                    r = None
                if path == "/" and r is not None:
                    m = hlib.CSRF_RE.search(r.body)
                    tok = m.group(1).decode() if m else None
                self.tick(r, path)
        c.close()


def main():
    build = hlib.build_dir_arg()
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    hlib.need_tools()
    tmp = hlib.temp_dir("crumb-mem-")
    state = os.path.join(tmp, "state")
    stack = hlib.Stack(build, state, workers=1)
    try:
        stack.start()
        pid = stack.worker_pids()[0]
        run = Run(stack.port, pid, total)
        t0 = time.monotonic()
        ts = [threading.Thread(target=run.client, args=(t,))
              for t in range(THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        end = rss_kib(pid)
        secs = time.monotonic() - t0
        warm = run.marks.get(1000, (None,))[0]
        at10k = run.marks.get(10000, (None,))[0]
        rep.note("worker %d: VmRSS %s KiB after 1,000 requests, %s KiB "
                 "after 10,000, %s KiB after %d (%.0f s, %.0f req/s)" % (
                     pid, warm, at10k, end, run.n, secs, run.n / secs))
        rep.check(run.n >= total and not run.bad,
                  "%d requests served, all 200/303" % total,
                  "%d done, bad: %s" % (run.n, run.bad[:5]))
        rep.check(hlib.pid_alive(pid) and stack.worker_pids() == [pid],
                  "the one worker served them all and is alive")
        if at10k is not None and end is not None:
            limit = at10k * 1.05 + SLACK_KIB
            rep.check(end <= limit, "RSS flat: %d KiB at the end <= %d KiB "
                      "(10,000-request figure %d KiB + 5%% + %d KiB)" % (
                          end, limit, at10k, SLACK_KIB),
                      "grew by %d KiB" % (end - at10k))
        else:
            rep.nok("RSS measured at 10,000 requests and at the end")
        rows = hlib.session_rows(state)
        rep.note("session records left: %d" % len(rows))
    except hlib.StackError as e:
        rep.nok("stack started", str(e))
    finally:
        hlib.stop_and_check(rep, stack)
    res = hlib.integrity(os.path.join(state, "sessions.db"))
    rep.check(res == "ok", "integrity_check of sessions.db", res)
    if not rep.fails:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        rep.note("state kept in %s" % state)
    return rep.done()


if __name__ == "__main__":
    sys.exit(main())
