#!/usr/bin/env python3
"""Crash safety through the real stack: a killed worker leaves every request done or not at all.

    tests/hardening/crash.py BUILD_DIR

ROUNDS rounds on one state directory.  Each round starts the stack (4
FastCGI workers), runs 4 client threads of visitors (counter, sign-in,
post (half of them), counter, some sign out) and a killer thread that SIGKILLs a
live guestbook worker (pids from state_dir/run/workers.pid), preferably
one caught inside a request (/proc/PID/wchan is not accept), every
KILL_EVERY seconds, 3 per round (the stack runs its workers
unsupervised here, CRUMB_SUPERVISE=0, so one worker is left; e2e-supervise.sh
covers the restarts), then stops the stack.  A last start of the stack
verifies, for every visitor of every round:
 - every post that got 303 is in guestbook.db and on GET / (or an
   older page it links to);
 - a visitor whose every request was answered 2xx/3xx is exactly where
   its replies left it: still signed in (or signed out after a 303
   /logout), and its next GET /counter is the last count it saw + 1;
 - a visitor whose last request failed (killed worker): its session is
   either before or after that request, never between: the counter is
   the last seen + 1 or + 2, and a cookie from before an interrupted
   sign-in is never signed in (the ID change and the user are one
   write);
 - the cookie a visitor had before a successful sign-in no longer opens
   the signed-in session;
 - integrity_check is ok on both databases and every session record's
   state is a JSON object.
Answers during the kills (Apache's 502/503 for a killed worker) are
counted, not failed: only replies that claimed success are held to it.
"""
import os
import random
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlib  # noqa: E402
from hlib import Client  # noqa: E402

ROUNDS = 4
LOAD_SECS = 3.0
KILL_EVERY = 0.7
CLIENTS = 4
WORKERS = 4

rep = hlib.Report("crash")


class Visitor:
    def __init__(self, name):
        self.name = name
        self.pre_login = None       # cookie header before POST /login
        self.login = None           # status, or "exc"
        self.signed_in = False
        self.logged_out = False
        self.count = 0              # last count seen
        self.posts = []             # messages that got 303
        self.failed_at = None       # path of the request that failed
        self.cookie = None          # last cookie header
        self.steps = 0


def run_visitor(port, v, stop, logout, post):
    c = Client(port, timeout=30)
    plan = [("GET", "/counter"), ("GET", "/counter"), ("POST", "/login"),
            ("GET", "/"), ("GET", "/counter")]
    # Every entry makes every later GET / longer: one post per visitor
    # keeps the pages small enough for the run to stay short.
    if post:
        plan += [("POST", "/post"), ("GET", "/counter")]
    if logout:
        plan += [("GET", "/"), ("POST", "/logout")]
    tok = None
    for method, path in plan:
        if stop.is_set():
            break
        form = None
        if path == "/login":
            v.pre_login = c.cookie_header()
            form = {"name": v.name}
        elif path == "/post":
            form = {"message": "crash-%s-%d" % (v.name, len(v.posts) + 1),
                    "csrf": tok or ""}
        elif path == "/logout":
            form = {"csrf": tok or ""}
        try:
            r = c.request(method, path, body=form, retry_idle=False)
            status = r.status
        except Exception:  # noqa: BLE001
            r, status = None, "exc"
        v.steps += 1
        ok = status in (200, 303)
        if not ok:
            v.failed_at = path
            if path == "/login":
                v.login = status
            break
        if path == "/counter":
            v.count = r.count()
        elif path == "/login":
            v.login = 303
            v.signed_in = True
        elif path == "/":
            m = hlib.CSRF_RE.search(r.body)
            tok = m.group(1).decode() if m else None
        elif path == "/post":
            v.posts.append(form["message"])
        elif path == "/logout":
            v.logged_out = True
            v.signed_in = False
        v.cookie = c.cookie_header()
    c.close()


def load_round(stack, rnd, visitors):
    stop = threading.Event()
    kills, statuses = [], {}
    lock = threading.Lock()

    def client(t):
        n = 0
        rng = random.Random(rnd * 100 + t)
        while not stop.is_set():
            n += 1
            v = Visitor("r%dc%dv%d" % (rnd, t, n))
            run_visitor(stack.port, v, stop, logout=rng.random() < 0.3,
                        post=rng.random() < 0.5)
            with lock:
                visitors.append(v)
                key = v.failed_at or "completed"
                statuses[key] = statuses.get(key, 0) + 1

    def busy(pid):
        # A worker waiting for a connection sleeps in accept(); any
        # other state means it is inside a request.
        try:
            with open("/proc/%d/wchan" % pid) as f:
                return f.read().strip() != "inet_csk_accept"
        except OSError:
            return False

    def killer():
        rng = random.Random(rnd)
        while not stop.wait(KILL_EVERY):
            live = [p for p in stack.worker_pids() if hlib.pid_alive(p)]
            if len(live) <= 1:
                continue
            # Prefer a worker caught inside a request (poll briefly):
            # a kill between requests proves little.
            pid, deadline = None, time.monotonic() + 0.3
            while pid is None and time.monotonic() < deadline:
                inside = [p for p in live if busy(p)]
                if inside:
                    pid = rng.choice(inside)
            if pid is None:
                pid = rng.choice(live)
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
            except OSError:
                pass

    ts = [threading.Thread(target=client, args=(t,)) for t in range(CLIENTS)]
    k = threading.Thread(target=killer)
    for t in ts + [k]:
        t.start()
    time.sleep(LOAD_SECS)
    stop.set()
    for t in ts + [k]:
        t.join()
    return kills, statuses


def verify(stack, visitors):
    page = Client(stack.port).all_entries()
    stored = {m for _, m in hlib.entries(stack.state_dir)}
    posted = [m for v in visitors for m in v.posts]
    lost = [m for m in posted if m not in stored]
    rep.check(not lost, "every post that got 303 is in guestbook.db (%d)"
              % len(posted), "%d lost, e.g. %s" % (len(lost), lost[:5]))
    notshown = [m for m in posted
                if ("<p class=\"message\">%s</p>" % m).encode()
                not in page.body]
    rep.check(not notshown, "every post that got 303 is on GET / or an "
              "older page",
              "%d missing" % len(notshown))
    ours = {"crash-%s-1" % v.name for v in visitors}
    strays = [m for m in stored if m not in ours]
    rep.check(not strays, "guestbook.db holds only whole messages we sent",
              str(strays[:5]))

    certain = [v for v in visitors if v.failed_at is None and v.cookie]
    uncertain = [v for v in visitors if v.failed_at is not None]
    wrong_user, wrong_count, half, fixation = [], [], [], []

    def one(v):
        c = Client(stack.port, follow_cookies=False)
        if v.failed_at is None and v.cookie:
            who = hlib.signed_in_as(c.get("/", cookie=v.cookie))
            want = v.name if v.signed_in else None
            if who != want:
                wrong_user.append((v.name, who, want))
            n = c.get("/counter", cookie=v.cookie).count()
            if v.count and n != v.count + 1 and not v.logged_out:
                wrong_count.append((v.name, n, v.count + 1))
        elif v.failed_at == "/login" and v.pre_login:
            who = hlib.signed_in_as(c.get("/", cookie=v.pre_login))
            if who is not None:
                half.append((v.name, "pre-login cookie signed in as %s"
                             % who))
            n = c.get("/counter", cookie=v.pre_login).count()
            if n not in (1, v.count + 1):
                half.append((v.name, "count %s after interrupted login, "
                             "want 1 or %d" % (n, v.count + 1)))
        elif v.cookie and v.failed_at != "/logout":
            who = hlib.signed_in_as(c.get("/", cookie=v.cookie))
            want = v.name if v.signed_in else None
            if who != want:
                wrong_user.append((v.name, who, want, v.failed_at))
            n = c.get("/counter", cookie=v.cookie).count()
            if v.count and n not in (v.count + 1, v.count + 2):
                wrong_count.append((v.name, n, v.count + 1, v.failed_at))
        if v.login == 303 and v.pre_login:
            who = hlib.signed_in_as(c.get("/", cookie=v.pre_login))
            if who is not None:
                fixation.append(v.name)
        c.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, visitors))
    rep.check(not wrong_user, "a restarted stack serves every surviving "
              "session: signed in exactly when the replies said so (%d "
              "complete, %d interrupted visitors)" % (len(certain),
                                                      len(uncertain)),
              "%d wrong: %s" % (len(wrong_user), wrong_user[:5]))
    rep.check(not wrong_count, "every counter value returned is stored "
              "(next count = last seen + 1, + 2 if the last was cut)",
              "%d wrong: %s" % (len(wrong_count), wrong_count[:5]))
    rep.check(not half, "no session holds half of an interrupted sign-in",
              str(half[:5]))
    rep.check(not fixation, "a cookie from before a sign-in never opens the "
              "signed-in session", str(fixation[:5]))


def main():
    build = hlib.build_dir_arg()
    hlib.need_tools()
    tmp = hlib.temp_dir("crumb-crash-")
    state = os.path.join(tmp, "state")
    visitors = []
    stack = None
    total_kills = 0
    try:
        for rnd in range(1, ROUNDS + 1):
            stack = hlib.Stack(build, state, workers=WORKERS, supervise=False).start()
            before = len(visitors)
            kills, statuses = load_round(stack, rnd, visitors)
            total_kills += len(kills)
            rep.note("round %d: %d visitors, %d workers killed, outcome "
                     "(completed, or the path that failed) %s" % (
                         rnd, len(visitors) - before, len(kills), statuses))
            rep.check(len(kills) == WORKERS - 1,
                      "round %d: %d of %d workers SIGKILLed under load"
                      % (rnd, len(kills), WORKERS))
            hlib.stop_and_check(rep, stack, "round %d stack" % rnd)
            stack = None
            for db in ("sessions.db", "guestbook.db"):
                res = hlib.integrity(os.path.join(state, db))
                rep.check(res == "ok", "round %d: integrity_check of %s"
                          % (rnd, db), res)
        stack = hlib.Stack(build, state, workers=WORKERS, supervise=False).start()
        verify(stack, visitors)
        if rep.fails:
            rep.note(stack.log_tail())
        hlib.stop_and_check(rep, stack, "verifying stack")
        stack = None
        bad = [r for r in hlib.session_rows(state)
               if not isinstance(r[1], dict)]
        rep.check(not bad, "every session record's state is a JSON object",
                  str(bad[:3]))
        for db in ("sessions.db", "guestbook.db"):
            res = hlib.integrity(os.path.join(state, db))
            rep.check(res == "ok", "final integrity_check of %s" % db, res)
        rep.note("%d visitors, %d workers killed in %d rounds" % (
            len(visitors), total_kills, ROUNDS))
    except hlib.StackError as e:
        rep.nok("stack started", str(e))
    finally:
        if stack is not None:
            hlib.stop_and_check(rep, stack)
    if not rep.fails:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        rep.note("state kept in %s" % state)
    return rep.done()


if __name__ == "__main__":
    sys.exit(main())
