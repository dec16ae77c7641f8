#!/usr/bin/env python3
"""Concurrency through the real stack: no update is silently lost.

    tests/hardening/concurrency.py BUILD_DIR

One stack (Apache + spawn-fcgi, 4 FastCGI workers), three parts:
 (a) one visitor's counter: a first GET /counter creates the session
     (count 1); then 4 client threads send 50 GET /counter each, at
     the same time, all with that one cookie (never updated from the
     replies).  Every reply is 200, the 200 replies carry the counts
     2..201 exactly once each, the stored count is then 201: one more
     GET /counter answers 202, and sessions.db holds count 202 after
     the stack stopped.
 (b) two keys of one session changed at once: a signed-in visitor's
     POST /post (sets the server key "flash") races two GET /counter
     (key "count", atomic) 100 times; every flash is shown afterwards
     and the count is exact (a whole-state write-back would lose one).
 (c) a mixed run: 8 client threads x 500 requests of new visitors,
     counters, sign-ins, posts (csrf scraped from the page), theme
     switches and sign-outs.  No 5xx, every reply the contract's
     status, every visitor's counter exact, every entry that got 303
     on GET / and in guestbook.db, PRAGMA integrity_check ok on both
     databases (opened with sqlite3 after the stack stopped).
"""
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlib  # noqa: E402
from hlib import Client  # noqa: E402

rep = hlib.Report("concurrency")


def part_a(stack):
    first = Client(stack.port)
    r = first.get("/counter")
    rep.check(r.status == 200 and r.count() == 1,
              "a: first GET /counter is 200 with count 1", repr(r))
    cookie = first.cookie_header()
    rep.check(cookie is not None and cookie.startswith("id="),
              "a: the first reply sets the session cookie")
    if cookie is None:
        return
    barrier = threading.Barrier(4)
    results = [[] for _ in range(4)]

    def client(i):
        c = Client(stack.port, follow_cookies=False)
        barrier.wait()
        for _ in range(50):
            try:
                r = c.get("/counter", cookie=cookie, retry_idle=False)
                results[i].append((r.status, r.count()))
            except Exception as e:  # noqa: BLE001
                results[i].append((None, repr(e)))
        c.close()

    ts = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    allr = [x for res in results for x in res]
    bad = [x for x in allr if x[0] != 200]
    rep.check(len(allr) == 200 and not bad,
              "a: 200 concurrent GET /counter (4 x 50) all 200",
              "%d non-200, e.g. %s" % (len(bad), bad[:5]))
    counts = sorted(x[1] for x in allr if x[0] == 200)
    rep.check(counts == list(range(2, 202)),
              "a: the replies carry the counts 2..201 once each",
              "duplicates %s, missing %s" % (
                  sorted({c for c in counts if counts.count(c) > 1})[:10],
                  sorted(set(range(2, 202)) - set(counts))[:10]))
    r = first.get("/counter", cookie=cookie)
    rep.check(r.status == 200 and r.count() == 202,
              "a: stored count is 201 after 1 + 200 (next GET says 202)",
              repr(r))
    rep.note("a: 200 concurrent requests in %.2f s" % secs)


def part_b(stack):
    v = Client(stack.port)
    v.get("/counter")
    r = v.post("/login", {"name": "two-keys"})
    tok, page = v.csrf()
    if not rep.check(r.status == 303 and tok,
                     "b: visitor signed in with a csrf token", repr(r)):
        return
    base = v.get("/counter").count()
    cookie = v.cookie_header()
    rounds, lost_flash, errors, counters = 100, 0, [], 0
    for k in range(rounds):
        barrier = threading.Barrier(3)
        out = [None] * 3

        def one(i, k=k):
            c = Client(stack.port, follow_cookies=False)
            barrier.wait()
            try:
                if i == 0:
                    out[i] = c.post("/post", {"message": "two-keys %d" % k,
                                              "csrf": tok}, cookie=cookie)
                else:
                    out[i] = c.get("/counter", cookie=cookie)
            except Exception as e:  # noqa: BLE001
                out[i] = e
            c.close()

        ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        want = (303, 200, 200)
        for i, r in enumerate(out):
            if not isinstance(r, hlib.Resp) or r.status != want[i]:
                errors.append((k, i, r))
        counters += 2
        page = v.get("/", cookie=cookie)
        if b"Thanks for signing" not in page.body:
            lost_flash += 1
    rep.check(not errors, "b: %d rounds of POST /post racing 2 GET /counter"
              " all answered 303/200" % rounds, str(errors[:3]))
    rep.check(lost_flash == 0, "b: every flash set by /post persisted "
              "despite the concurrent counters",
              "%d of %d flashes lost" % (lost_flash, rounds))
    r = v.get("/counter", cookie=cookie)
    rep.check(r.count() == base + counters + 1,
              "b: every counter increment persisted despite the "
              "concurrent posts", "count %s, want %d" % (r.count(),
                                                         base + counters + 1))


class Mixed:
    STEPS = [  # (method, path, expected status)
        ("GET", "/", 200), ("GET", "/counter", 200),
        ("GET", "/counter", 200), ("POST", "/login", 303),
        ("GET", "/", 200), ("POST", "/post", 303), ("GET", "/counter", 200),
        ("POST", "/post", 303), ("GET", "/", 200), ("POST", "/theme", 303),
        ("GET", "/counter", 200), ("POST", "/logout", 303),
        ("GET", "/", 200),
    ]

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.posted = []        # messages that got 303
        self.fivexx = []
        self.unexpected = []
        self.counter_bad = []
        self.other = []
        self.n = 0

    def client(self, t, budget):
        sent, life = 0, 0
        while sent < budget:
            life += 1
            v = Client(self.port)
            name = "m%d-%d" % (t, life)
            tok, count, npost = None, 0, 0
            for method, path, want in self.STEPS:
                if sent >= budget:
                    break
                form = None
                if path == "/login":
                    form = {"name": name}
                elif path == "/post":
                    npost += 1
                    form = {"message": "msg-%s-%d" % (name, npost),
                            "csrf": tok or ""}
                elif path == "/theme":
                    form = {"theme": "dark"}
                elif path == "/logout":
                    form = {"csrf": tok or ""}
                try:
                    r = v.request(method, path, body=form)
                except Exception as e:  # noqa: BLE001
                    with self.lock:
                        self.other.append((name, path, repr(e)))
                    sent += 1
                    continue
                sent += 1
                with self.lock:
                    self.n += 1
                    if r.status >= 500:
                        self.fivexx.append((name, method, path, r.status))
                    elif r.status != want:
                        self.unexpected.append((name, method, path,
                                                r.status, want))
                if path == "/counter" and r.status == 200:
                    count += 1
                    if r.count() != count:
                        with self.lock:
                            self.counter_bad.append((name, r.count(), count))
                        count = r.count() or count
                elif path == "/" and r.status == 200:
                    m = hlib.CSRF_RE.search(r.body)
                    tok = m.group(1).decode() if m else None
                elif path == "/post" and r.status == 303:
                    with self.lock:
                        self.posted.append(form["message"])
            v.close()


def part_c(stack):
    clients, per = 8, 500
    m = Mixed(stack.port)
    ts = [threading.Thread(target=m.client, args=(t, per))
          for t in range(clients)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    rep.note("c: %d requests in %.1f s (%.0f/s), %d entries posted" % (
        m.n, secs, m.n / secs if secs else 0, len(m.posted)))
    rep.check(m.n == clients * per and not m.other,
              "c: all %d requests answered" % (clients * per),
              "%d answered, failures %s" % (m.n, m.other[:3]))
    rep.check(not m.fivexx, "c: no 5xx in the mixed run",
              "%d: %s" % (len(m.fivexx), m.fivexx[:5]))
    rep.check(not m.unexpected, "c: every reply has the contract's status",
              "%d: %s" % (len(m.unexpected), m.unexpected[:5]))
    rep.check(not m.counter_bad, "c: every visitor's counter exact",
              "%d: %s" % (len(m.counter_bad), m.counter_bad[:5]))
    page = Client(stack.port).all_entries()
    missing = [msg for msg in m.posted
               if ("<p class=\"message\">%s</p>" % msg).encode()
               not in page.body]
    rep.check(page.status == 200 and not missing and m.posted,
              "c: every entry that got 303 is on GET / or an older page (%d)"
              % len(m.posted),
              "%d missing, e.g. %s" % (len(missing), missing[:5]))
    return m


def main():
    build = hlib.build_dir_arg()
    hlib.need_tools()
    tmp = hlib.temp_dir("crumb-conc-")
    state = os.path.join(tmp, "state")
    stack = hlib.Stack(build, state, workers=4)
    m = None
    try:
        stack.start()
        rep.note("stack on port %d, workers %s" % (stack.port,
                                                   stack.worker_pids()))
        pids = stack.worker_pids()
        part_a(stack)
        part_b(stack)
        m = part_c(stack)
        rep.check(all(hlib.pid_alive(p) for p in pids),
                  "all 4 workers still alive after the runs")
        if rep.fails:
            rep.note(stack.log_tail())
    except hlib.StackError as e:
        rep.nok("stack started", str(e))
    finally:
        hlib.stop_and_check(rep, stack)
    if m is not None:
        for db in ("sessions.db", "guestbook.db"):
            res = hlib.integrity(os.path.join(state, db))
            rep.check(res == "ok", "integrity_check of %s is ok" % db, res)
        stored = {msg for _, msg in hlib.entries(state)}
        missing = [x for x in m.posted if x not in stored]
        rep.check(not missing, "every entry that got 303 is in guestbook.db",
                  "%d missing" % len(missing))
        counts = [st.get("count") for _, st, _ in hlib.session_rows(state)
                  if isinstance(st, dict)]
        rep.check(202 in counts, "a: sessions.db holds the count 202",
                  "counts stored: %s" % sorted(c for c in counts if c)[-5:])
    if not rep.fails:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        rep.note("state kept in %s" % state)
    return rep.done()


if __name__ == "__main__":
    sys.exit(main())
