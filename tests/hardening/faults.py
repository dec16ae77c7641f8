#!/usr/bin/env python3
"""Store faults through the real stack: each fault gives 503, a log line, and recovery.

    tests/hardening/faults.py BUILD_DIR

Needs root (chattr, mount, pidfd_getfd); skips (77) otherwise.  One
stack per fault, 2 FastCGI workers.  A visitor with a session (count N)
is made first.  During the fault: the request that needs the store
gets the guestbook's own short 503 page (not Apache's, not a 500) and
the worker that answered stays alive.  After the fault is removed: the
same worker serves again and the visitor's next count is N + 1 (the
refused requests changed nothing).  After the stack stopped: PRAGMA
integrity_check is ok on both databases.

Faults:
 1. read-only database file, under running workers: chattr +i on
    sessions.db and sessions.db-wal (as root, chmod stops nothing).
 2. read-only database file when the worker starts: the same, then a
    fresh worker (below) opens the store.
 3. missing state directory when the worker starts: the directory is
    renamed away, a fresh worker starts, the directory comes back.
 4. a lock held past the busy timeout (5 s, not settable): another
    process holds BEGIN EXCLUSIVE on sessions.db for 12 s; the write
    must give up after about 5 s.
 5. corrupted sessions.db (a): stopped stack, every page after the
    first overwritten with garbage, stack started (its schema page is
    intact, so stack.sh and the worker open it); then the good copy is
    put back and the stack restarted.
 6. corrupted sessions.db (b): the file replaced by garbage when a
    fresh worker starts, the good file put back under it.
 7. full disk: the state directory on a 4 MiB tmpfs, filled to ENOSPC
    by a filler file less 192 KiB; writes (posts, new sessions) go on
    until the store fails, and every post that got 303 is kept; the
    filler is removed.

"Fresh worker": spawn-fcgi starts its workers once and the guestbook
opens its stores once per process, so a fault present at start needs a
new process.  hlib.fresh_worker copies the FastCGI listening socket out
of a running worker (pidfd_getfd) and starts the same program on it as
the stack's user; then the old workers are stopped, so that the fresh
one answers every request.  These stacks run their workers unsupervised
(CRUMB_SUPERVISE=0): multiwatch would start the old ones again.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlib  # noqa: E402
from hlib import Client  # noqa: E402

rep = hlib.Report("faults")
# The lock holder runs as the stack's user, who may not reach a python
# under /root.
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) \
    else sys.executable
BUILD = None


def gb_503(r):
    return (r is not None and hlib.short_error_page(r, 503) and
            b"guestbook" in r.body.lower())


def desc(r):
    if r is None:
        return "no answer"
    return "%s %s" % (r.status, r.body[:100])


def new_state(tag, parent=None):
    tmp = parent or hlib.temp_dir("crumb-fault-%s-" % tag)
    return tmp, os.path.join(tmp, "state")


def visitor(stack):
    """A signed-in visitor with count 2; returns (client, count)."""
    v = Client(stack.port)
    v.get("/counter")
    v.post("/login", {"name": "fault-visitor"})
    n = v.get("/counter").count()
    return v, n


def chattr(flag, paths):
    for p in paths:
        if os.path.exists(p):
            subprocess.run(["chattr", flag, p], check=True)


def fresh_log(stack):
    p = os.path.join(os.path.dirname(stack.state_dir), "fresh.log")
    try:
        with open(p, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def last_log_line(stack, needle="guestbook:"):
    lines = [ln for ln in stack.log_text("error.log").splitlines() +
             stack.log_text("fcgi.log").splitlines() +
             fresh_log(stack).splitlines() if needle in ln]
    return lines[-1][-200:] if lines else "(no log line)"


def after_fault(stack, v, n, pids, what):
    """The fault is gone: the visitor counts on from n."""
    r = None
    for _ in range(30):     # a worker retries opening once a second
        r = v.get("/counter")
        if r.status == 200:
            break
        time.sleep(0.2)
    rep.check(r.status == 200 and r.count() == n + 1,
              "%s: served again after the fault, count %d -> %d"
              % (what, n, n + 1), desc(r))
    rep.check(all(hlib.pid_alive(p) for p in pids),
              "%s: the worker(s) survived (pids %s)" % (what, pids))


def finish(stack, state, what):
    hlib.stop_and_check(rep, stack, what)
    for db in ("sessions.db", "guestbook.db"):
        res = hlib.integrity(os.path.join(state, db))
        rep.check(res == "ok", "%s: integrity_check of %s" % (what, db), res)


def swap_to_fresh(stack, what, old):
    """Start a fresh worker and stop the original ones (old: their pids);
    returns the fresh one's Popen."""
    log = os.path.join(os.path.dirname(stack.state_dir), "fresh.log")
    p = hlib.fresh_worker(stack, os.path.join(BUILD, "cgi-bin/guestbook"),
                          log, donors=old)
    time.sleep(0.3)
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while any(hlib.pid_alive(x) for x in old) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    rep.check(hlib.pid_alive(p.pid), "%s: fresh worker %d started"
              % (what, p.pid))
    # It tried to open the stores before its first request: that failure
    # must leave a trace (fcgi_stdio drops stderr before FCGI_Accept).
    rep.check("guestbook:" in fresh_log(stack) + stack.log_text(
              "error.log"), "%s: the failed open at worker start is "
              "logged before any request" % what,
              "nothing on the worker's stderr nor in error.log")
    # Later requests retry the open once a second and log through
    # FastCGI's stderr: let one second pass so that they do.
    time.sleep(1.1)
    return p


def during(stack, v, what, pids):
    r1 = v.get("/counter")
    r2 = Client(stack.port).get("/counter")
    rep.check(gb_503(r1), "%s: the visitor's GET /counter gets the "
              "guestbook's short 503 page" % what, desc(r1))
    rep.check(gb_503(r2), "%s: a new visitor's GET /counter gets 503"
              % what, desc(r2))
    rep.check(all(hlib.pid_alive(p) for p in pids),
              "%s: no worker died on it" % what)
    rep.note("%s: log: %s" % (what, last_log_line(stack)))


# ----------------------------------------------------------------------

def t_readonly_running():
    what = "read-only file (running)"
    tmp, state = new_state("ro")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    files = [os.path.join(state, f) for f in ("sessions.db",
                                              "sessions.db-wal")]
    try:
        stack.start()
        pids = stack.worker_pids()
        v, n = visitor(stack)
        chattr("+i", files)
        try:
            during(stack, v, what, pids)
            # The kernel refuses the write with EPERM, which SQLite
            # reports as an I/O error: CRUMB_E_STORE is the honest code.
            rep.check(re.search("read-only|I/O error",
                                last_log_line(stack)),
                      "%s: the log names the fault (read-only or I/O "
                      "error)" % what, last_log_line(stack))
        finally:
            chattr("-i", files)
        after_fault(stack, v, n, pids, what)
    finally:
        chattr("-i", files)
        finish(stack, state, what)
    return tmp


def t_readonly_start():
    what = "read-only file (at start)"
    tmp, state = new_state("ro2")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    files = [os.path.join(state, f) for f in (
        "sessions.db", "sessions.db-wal", "sessions.db-shm")]
    try:
        stack.start()
        v, n = visitor(stack)
        old = stack.worker_pids()
        chattr("+i", files)
        try:
            p = swap_to_fresh(stack, what, old)
            during(stack, v, what, [p.pid])
            rep.check("read-only" in last_log_line(stack),
                      "%s: the log names the fault (read-only)" % what,
                      last_log_line(stack))
        finally:
            chattr("-i", files)
        after_fault(stack, v, n, [p.pid], what)
    finally:
        chattr("-i", files)
        finish(stack, state, what)
    return tmp


def t_missing_dir():
    what = "missing directory (at start)"
    tmp, state = new_state("dir")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    away = state + ".away"
    try:
        stack.start()
        v, n = visitor(stack)
        old = stack.worker_pids()
        os.rename(state, away)
        try:
            p = swap_to_fresh(stack, what, old)
            during(stack, v, what, [p.pid])
        finally:
            os.rename(away, state)
        # Apache's error.log moved away with the directory: read it now.
        rep.check("cannot be opened" in last_log_line(stack),
                  "%s: the log names the fault (cannot open)" % what,
                  last_log_line(stack))
        after_fault(stack, v, n, [p.pid], what)
    finally:
        if os.path.exists(away):
            os.rename(away, state)
        finish(stack, state, what)
    return tmp


LOCKER = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
db.close()
"""


def t_busy():
    what = "lock past the busy timeout"
    hold = 12.0
    tmp, state = new_state("busy")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    locker = None
    try:
        stack.start()
        pids = stack.worker_pids()
        v, n = visitor(stack)
        st = os.stat(state)
        locker = subprocess.Popen(
            [PY, "-c", LOCKER,
             os.path.join(state, "sessions.db"), str(hold)],
            stdout=subprocess.PIPE, user=st.st_uid, group=st.st_gid,
            extra_groups=[])
        rep.check(locker.stdout.readline().strip() == b"locked",
                  "%s: another process holds BEGIN EXCLUSIVE" % what)
        t0 = time.monotonic()
        anon = {}

        def reader():
            time.sleep(0.5)
            a0 = time.monotonic()
            anon["r"] = Client(stack.port).get("/")
            anon["t"] = time.monotonic() - a0
        th = threading.Thread(target=reader)
        th.start()
        r = v.get("/counter")
        secs = time.monotonic() - t0
        th.join()
        rep.check(gb_503(r), "%s: GET /counter waits, then gets the "
                  "guestbook's 503 page" % what, desc(r))
        rep.check(4.5 <= secs <= 6.5, "%s: it waited the busy timeout "
                  "(%.1f s, want 5 s +- 1.5)" % (what, secs))
        ra = anon.get("r")
        rep.check(ra is not None and ra.status == 200 and anon["t"] < 2,
                  "%s: an anonymous GET / is still served at once" % what,
                  desc(ra))
        rep.check("busy" in last_log_line(stack),
                  "%s: the log names the fault (busy)" % what,
                  last_log_line(stack))
        locker.wait(15)
        after_fault(stack, v, n, pids, what)
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
            locker.wait()
        finish(stack, state, what)
    return tmp


def garble(path, keep=0):
    """Overwrite path from byte keep on with garbage (same inode)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(keep)
        f.write(os.urandom(max(size - keep, 4096)))


def checkpoint(path):
    import sqlite3
    db = sqlite3.connect(path, timeout=10)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def t_corrupt_pages():
    what = "corrupted file (pages)"
    tmp, state = new_state("corrupt")
    db = os.path.join(state, "sessions.db")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    try:
        stack.start()
        v, n = visitor(stack)
        # enough rows for several pages
        for _ in range(60):
            Client(stack.port).get("/counter")
        hlib.stop_and_check(rep, stack, what + ": first stack")
        checkpoint(db)
        shutil.copy2(db, db + ".good")
        garble(db, keep=4096)      # page 1 (the schema) stays intact
        for ext in ("-wal", "-shm"):
            if os.path.exists(db + ext):
                os.unlink(db + ext)
        try:
            stack.start()
        except hlib.StackError as e:
            rep.nok("%s: the stack starts on a damaged sessions.db" % what,
                    str(e)[-300:])
            return tmp
        pids = stack.worker_pids()
        v.move_to(stack.port)
        during(stack, v, what, pids)
        rep.check("corrupt" in last_log_line(stack),
                  "%s: the log names the fault (corrupt)" % what,
                  last_log_line(stack))
        hlib.stop_and_check(rep, stack, what + ": damaged stack")
        for ext in ("-wal", "-shm"):
            if os.path.exists(db + ext):
                os.unlink(db + ext)
        shutil.copy2(db + ".good", db)
        stack.start()
        v.move_to(stack.port)
        after_fault(stack, v, n, stack.worker_pids(), what)
    finally:
        finish(stack, state, what)
    return tmp


def t_corrupt_start():
    what = "corrupted file (at start)"
    tmp, state = new_state("garbage")
    db = os.path.join(state, "sessions.db")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    try:
        stack.start()
        v, n = visitor(stack)
        old = stack.worker_pids()
        st = os.stat(db)
        with open(db + ".bad", "wb") as f:
            f.write(os.urandom(64 * 1024))
        os.chown(db + ".bad", st.st_uid, st.st_gid)
        # The running workers keep the good file open under its new name.
        os.rename(db, db + ".good")
        os.rename(db + ".bad", db)
        moved = []
        for ext in ("-wal", "-shm"):
            if os.path.exists(db + ext):
                os.rename(db + ext, db + ".good" + ext)
                moved.append(ext)
        try:
            p = swap_to_fresh(stack, what, old)
            during(stack, v, what, [p.pid])
            rep.check("corrupt" in last_log_line(stack),
                      "%s: the log names the fault (corrupt)" % what,
                      last_log_line(stack))
        finally:
            os.rename(db + ".good", db)
            for ext in moved:
                os.rename(db + ".good" + ext, db + ext)
        after_fault(stack, v, n, [p.pid], what)
    finally:
        finish(stack, state, what)
    return tmp


def t_full_disk():
    what = "full disk"
    base = hlib.temp_dir("crumb-fault-full-")
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755",
                        "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        rep.nok("%s: mount a 4 MiB tmpfs" % what, r.stderr.strip())
        return base
    state = os.path.join(mnt, "state")
    stack = hlib.Stack(BUILD, state, workers=2, supervise=False)
    filler = os.path.join(mnt, "filler")
    try:
        stack.start()
        pids = stack.worker_pids()
        v, n = visitor(stack)
        tok, _ = v.csrf()
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass        # ENOSPC: full
        finally:
            os.close(fd)
        # Give back a little, so that some writes succeed before the
        # store runs out: those must be kept.
        os.truncate(filler, max(0, os.path.getsize(filler) - (192 << 10)))
        # Writes go on until the store needs a block it cannot get.
        posted, statuses, first503 = [], {}, None
        for i in range(400):
            if i % 2:
                r = Client(stack.port).get("/counter")
            else:
                msg = "full-%d-" % i + "x" * 900
                r = v.post("/post", {"message": msg, "csrf": tok})
                if r.status == 303:
                    posted.append(msg)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 503 and first503 is None:
                first503 = r
                break
        rep.note("%s: statuses until the first 503: %s" % (what, statuses))
        rep.check(first503 is not None and gb_503(first503),
                  "%s: the store fails with the guestbook's 503 page" % what,
                  desc(first503))
        rep.check(set(statuses) <= {200, 303, 503},
                  "%s: nothing but 200/303/503 meanwhile" % what,
                  str(statuses))
        r = v.get("/counter")
        rep.check(gb_503(r), "%s: the visitor's GET /counter gets 503"
                  % what, desc(r))
        rep.check(all(hlib.pid_alive(p) for p in pids),
                  "%s: no worker died on it" % what)
        rep.check("full" in last_log_line(stack),
                  "%s: the log names the fault (full)" % what,
                  last_log_line(stack))
        os.unlink(filler)
        after_fault(stack, v, n, pids, what)
        page = v.all_entries()
        missing = [m for m in posted if m.encode() not in page.body]
        rep.check(not missing, "%s: every post that got 303 is kept (%d)"
                  % (what, len(posted)), "%d missing" % len(missing))
    finally:
        if os.path.exists(filler):
            os.unlink(filler)
        finish(stack, state, what)
        subprocess.run(["umount", mnt])
    return base


def main():
    global BUILD
    BUILD = hlib.build_dir_arg()
    hlib.need_tools()
    if os.getuid() != 0:
        print("# SKIP: faults.py needs root (chattr, mount, pidfd_getfd)")
        return 77
    keep = []
    for t in (t_readonly_running, t_readonly_start, t_missing_dir, t_busy,
              t_corrupt_pages, t_corrupt_start, t_full_disk):
        before = rep.fails
        try:
            tmp = t()
        except Exception as e:  # noqa: BLE001
            rep.nok("%s ran" % t.__name__, repr(e))
            tmp = None
        if tmp and rep.fails == before:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp:
            keep.append(tmp)
    for k in keep:
        rep.note("state kept in %s" % k)
    return rep.done()


if __name__ == "__main__":
    sys.exit(main())
