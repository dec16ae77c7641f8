"""Shared helpers of the hardening tests: start and stop the
real stack (scripts/stack.sh: private Apache + spawn-fcgi guestbook
workers), talk HTTP to it with the standard library only, report one
line per check, and look at the state directory afterwards.

Python standard library only (http.client, socket, sqlite3, subprocess).
"""
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
STACK_SH = os.path.join(TOP, "scripts", "stack.sh")

# ----------------------------------------------------------------------
# Reporting: one TAP-style line per check; the exit status counts fails.


class Report:
    def __init__(self, name):
        self.name = name
        self.n = 0
        self.fails = 0
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def ok(self, desc):
        with self.lock:
            self.n += 1
            print("ok %d - %s" % (self.n, desc), flush=True)

    def nok(self, desc, detail=""):
        with self.lock:
            self.n += 1
            self.fails += 1
            print("not ok %d - %s%s" % (self.n, desc,
                  " (%s)" % detail if detail else ""), flush=True)

    def check(self, cond, desc, detail=""):
        if cond:
            self.ok(desc)
        else:
            self.nok(desc, detail)
        return bool(cond)

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def done(self):
        secs = time.monotonic() - self.t0
        print("# %s: %d checks, %d failed, %.1f s" % (
            self.name, self.n, self.fails, secs), flush=True)
        return 1 if self.fails else 0


def build_dir_arg():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: %s BUILD_DIR\n" % sys.argv[0])
        sys.exit(2)
    b = os.path.abspath(sys.argv[1])
    for f in ("cgi-bin/guestbook", "lib/crumb-keygen"):
        if not os.access(os.path.join(b, f), os.X_OK):
            sys.stderr.write("%s/%s not built\n" % (b, f))
            sys.exit(2)
    return b


def need_tools():
    for t in ("apache2", "spawn-fcgi", "multiwatch", "curl"):
        if not any(os.access(os.path.join(d, t), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":") +
                   ["/usr/sbin", "/usr/bin"]):
            print("# SKIP: %s not installed (scripts/deps.sh)" % t)
            sys.exit(77)


# ----------------------------------------------------------------------
# Temporary directories that the stack's user (www-data when we are
# root) can reach.


def temp_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ----------------------------------------------------------------------
# The stack


def _environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ")
    except OSError:
        return b""


def processes_of(state_dir):
    """Pids of live processes that belong to the stack on state_dir:
    guestbook workers (CRUMB_STATE_DIR=state_dir in their environment)
    and Apache (its config lives in state_dir/run).  Zombies count as
    gone."""
    want_env = ("CRUMB_STATE_DIR=" + state_dir).encode()
    want_conf = os.path.join(state_dir, "run", "httpd.conf").encode()
    me = os.getpid()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        pid = int(d)
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except (OSError, IndexError):
            continue
        cmd = _cmdline_of(pid)
        if want_conf in cmd:
            found.append(pid)
        elif b"guestbook" in cmd and want_env in _environ_of(pid):
            found.append(pid)
    return found


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class StackError(Exception):
    pass


class Stack:
    """scripts/stack.sh in the background.  start() returns once it
    printed READY; stop() sends SIGTERM, waits, and kills whatever of
    this state directory is still alive (and says so)."""

    def __init__(self, build, state_dir, workers=4, mode="fcgi",
                 program=None, insecure=True, supervise=True):
        self.build = build
        self.state_dir = os.path.abspath(state_dir)
        self.workers = workers
        self.mode = mode
        self.program = program
        self.insecure = insecure
        # False: workers that stay dead (CRUMB_SUPERVISE=0), for tests
        # that put fresh workers of their own in their place.
        self.supervise = supervise
        self.proc = None
        self.port = None
        self.errlog = None
        self.extra_pids = []   # workers started by the tests themselves

    @property
    def run_dir(self):
        return os.path.join(self.state_dir, "run")

    def start(self, tries=3):
        last = ""
        for _ in range(tries):
            self.port = free_port()
            # stack.sh's stderr beside the state directory (in the
            # test's temporary directory): kept with it on failure.
            self.errlog = open(os.path.join(
                os.path.dirname(self.state_dir), "stack-%s.err" %
                os.path.basename(self.state_dir)), "ab")
            args = [STACK_SH, "--port", str(self.port), "--state-dir",
                    self.state_dir, "--mode", self.mode, "--workers",
                    str(self.workers), "--build-dir", self.build]
            if self.program:
                args += ["--program", self.program]
            env = dict(os.environ)
            env["CRUMB_INSECURE_COOKIE"] = "1" if self.insecure else "0"
            env["CRUMB_SUPERVISE"] = "1" if self.supervise else "0"
            self.proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=self.errlog,
                stdin=subprocess.DEVNULL, env=env)
            self.errlog.close()
            line = self._read_ready(60)
            if line.startswith("READY "):
                return self
            self._terminate()
            with open(self.errlog.name, errors="replace") as f:
                last = f.read()
        raise StackError("stack did not start:\n" + last[-3000:])

    def _read_ready(self, timeout):
        out = []

        def reader():
            out.append(self.proc.stdout.readline().decode(errors="replace"))
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        return out[0] if out else ""

    def _terminate(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        """Stops the stack; returns the pids that had to be killed
        because they outlived stack.sh (a failure for the caller)."""
        self._terminate()
        for pid in self.extra_pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        left = processes_of(self.state_dir)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = processes_of(self.state_dir)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # reap our own children (extra workers)
        for pid in self.extra_pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        self.extra_pids = []
        return left

    def worker_pids(self):
        try:
            with open(os.path.join(self.run_dir, "workers.pid")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def log_tail(self, n=15):
        """The last lines of fcgi.log and error.log, for reports."""
        out = []
        for name in ("fcgi.log", "error.log"):
            p = os.path.join(self.run_dir, name)
            try:
                with open(p, errors="replace") as f:
                    lines = f.read().splitlines()[-n:]
            except OSError:
                lines = ["(none)"]
            out.append("%s:" % name)
            out += ["  " + ln for ln in lines]
        return "\n".join(out)

    def log_text(self, name):
        try:
            with open(os.path.join(self.run_dir, name),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def stop_and_check(rep, stack, what="stack"):
    left = stack.stop()
    rep.check(not left, "%s stopped, no worker or Apache left running"
              % what, "killed leftover pids %s" % left)
    rep.check(not processes_of(stack.state_dir),
              "%s: nothing of the state dir still alive" % what)


# ----------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers        # list of (name, value)
        self.body = body              # bytes

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def set_cookies(self):
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def count(self):
        """{"count":N} of /counter, or None."""
        try:
            return int(json.loads(self.body)["count"])
        except (ValueError, KeyError, TypeError):
            return None

    def __repr__(self):
        return "<%s %r>" % (self.status, self.body[:120])


def session_cookie_from(resp, name="id"):
    """(value, expired) of the session cookie set by resp, or None."""
    for sc in resp.set_cookies():
        first, _, attrs = sc.partition(";")
        k, _, v = first.strip().partition("=")
        if k != name:
            continue
        expired = bool(re.search(r"(?i)max-age=0\b", attrs)) or v == ""
        return v, expired
    return None


# The guestbook's link to the next older page of entries.
OLDER_RE = re.compile(rb'id="older" rel="next" href="(/\?page=[0-9]+)"')
CSRF_RE = re.compile(rb'name="csrf" value="([^"]*)"')
USER_RE = re.compile(rb'<strong id="user">(.*?)</strong>')


class Client:
    """One visitor on one keep-alive connection.  Keeps the session
    cookie "id" (and any other cookie) from Set-Cookie unless
    follow_cookies is False."""

    def __init__(self, port, timeout=60, follow_cookies=True):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.cookies = {}
        self.follow = follow_cookies

    def move_to(self, port):
        """The stack restarted on another port: same cookies, new
        connection."""
        self.close()
        self.port = port

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def cookie_header(self):
        if not self.cookies:
            return None
        return "; ".join("%s=%s" % kv for kv in self.cookies.items())

    def request(self, method, path, body=None, headers=None, cookie=False,
                retry_idle=True):
        """cookie: False = the jar's cookies; None = none; a string =
        that raw Cookie header.  Raises OSError/HTTPException when the
        connection fails."""
        hdrs = {}
        if cookie is False:
            c = self.cookie_header()
        else:
            c = cookie
        if c is not None:
            hdrs["Cookie"] = c
        if body is not None and isinstance(body, dict):
            body = urlencode(body)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if isinstance(body, str):
            body = body.encode()
        if headers:
            hdrs.update(headers)
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                self.close()
                # An idle keep-alive connection closed by Apache: the
                # request never reached it; resend once on a new one.
                if attempt == 0 and not fresh and retry_idle:
                    continue
                raise
            except Exception:
                self.close()
                raise
            resp = Resp(r.status, r.getheaders(), data)
            if r.will_close:
                self.close()
            if self.follow:
                self.absorb(resp)
            return resp

    def absorb(self, resp):
        for sc in resp.set_cookies():
            first, _, attrs = sc.partition(";")
            k, _, v = first.strip().partition("=")
            if re.search(r"(?i)max-age=0\b", attrs):
                self.cookies.pop(k, None)
            else:
                self.cookies[k] = v

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form, **kw):
        return self.request("POST", path, body=form, **kw)

    # guestbook conveniences
    def all_entries(self):
        """GET / and every older page it links to (50 entries a page),
        as one reply: the first page's status, every page's body."""
        first = r = self.get("/")
        body = r.body
        while r.status == 200:
            m = OLDER_RE.search(r.body)
            if not m:
                break
            r = self.get(m.group(1).decode())
            body += r.body
        first.body = body
        return first

    def csrf(self):
        r = self.get("/")
        m = CSRF_RE.search(r.body)
        return (m.group(1).decode() if m else None), r


def urlencode(form):
    from urllib.parse import quote_plus
    return "&".join("%s=%s" % (quote_plus(k), quote_plus(v))
                    for k, v in form.items())


def signed_in_as(resp):
    m = USER_RE.search(resp.body)
    return m.group(1).decode("utf-8", errors="replace") if m else None


def raw_request(port, data, timeout=30, shut_wr=False, chunks=None):
    """Sends raw bytes (optionally in chunks, then optionally closes the
    write side) and returns (status or None, raw response bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        try:
            s.sendall(data)
            for c in chunks or ():
                s.sendall(c)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass        # the server may answer and close early
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
                if b"\r\n\r\n" in got and not shut_wr:
                    head, _, rest = got.partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
        except OSError:
            pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.\d (\d{3})", got)
    return (int(m.group(1)) if m else None), got


# ----------------------------------------------------------------------
# The databases


def integrity(path):
    """PRAGMA integrity_check of path ('ok' when sound), or the error."""
    try:
        db = sqlite3.connect(path, timeout=10)
        try:
            rows = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
        return "; ".join(str(r[0]) for r in rows)[:300]
    except sqlite3.Error as e:
        return "error: %s" % e


def session_rows(state_dir):
    """[(user, state dict or raw text, version)] of sessions.db."""
    db = sqlite3.connect(os.path.join(state_dir, "sessions.db"), timeout=10)
    try:
        rows = db.execute(
            "SELECT user, state, version FROM crumb_sessions").fetchall()
    finally:
        db.close()
    out = []
    for user, st, ver in rows:
        try:
            st = json.loads(st)
        except ValueError:
            pass
        out.append((user, st, ver))
    return out


def entries(state_dir):
    db = sqlite3.connect(os.path.join(state_dir, "guestbook.db"), timeout=10)
    try:
        return db.execute(
            "SELECT author, message FROM entries").fetchall()
    finally:
        db.close()


def short_error_page(resp, status=503):
    """A short HTML page for status, as the guestbook's fail_page."""
    ct = resp.header("Content-Type") or ""
    return (resp.status == status and ct.startswith("text/html") and
            len(resp.body) < 4096 and str(status).encode() in resp.body)


# ----------------------------------------------------------------------
# A fresh worker on the stack's FastCGI socket.  spawn-fcgi starts the
# workers once and never respawns them, and a worker opens its stores
# once; a fault present when a worker starts (missing directory,
# read-only or corrupted file, full disk) needs a new process.  This
# copies the listening socket out of a live worker (pidfd_getfd, Linux
# 5.6+, root) and starts the same program on it as the stack's user,
# with the environment stack.sh gives the workers.

SYS_PIDFD_GETFD = 438   # x86_64 and aarch64 alike (generic table)


def fresh_worker(stack, program, log_path, donors=None):
    """donors: pids to take the socket from (default: the stack's)."""
    import ctypes
    donor = next(p for p in (donors or stack.worker_pids()) +
                 stack.extra_pids if pid_alive(p))
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(donor)
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, 0, 0)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    # The donor's user (the state directory may be gone: that is one of
    # the faults).
    with open("/proc/%d/status" % donor) as f:
        ids = {ln.split(":")[0]: int(ln.split()[1]) for ln in f
               if ln.startswith(("Uid:", "Gid:"))}
    env = {"PATH": "/usr/bin:/bin", "CRUMB_STATE_DIR": stack.state_dir,
           "CRUMB_INSECURE_COOKIE": "1" if stack.insecure else "0"}
    kw = {}
    if os.getuid() == 0:
        kw = dict(user=ids["Uid"], group=ids["Gid"], extra_groups=[])
    with open(log_path, "ab") as log:
        p = subprocess.Popen([program], stdin=fd,
                             stdout=subprocess.DEVNULL, stderr=log,
                             env=env, close_fds=True, **kw)
    os.close(fd)
    stack.extra_pids.append(p.pid)
    return p
