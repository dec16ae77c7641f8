#!/usr/bin/env python3
"""Bad-input matrix through the real stack: every hostile input gets a clear 4xx or a fresh session.

    tests/hardening/bad-input.py BUILD_DIR

One table: each row sends hostile input to the guestbook behind Apache
(2 FastCGI workers) and must get a fresh session or a 4xx: never a 5xx,
never a crash (the worker pids are the same and alive after every row),
never an adopted ID.  Cookie rows are probed with GET /counter twice:
a fresh session answers {"count":1} both times (had the server stored
a record under the ID the client sent, the second answer would be 2),
and GET / with the cookie is not signed in as its owner.  A legitimate
visitor ("victim", whose cookie the forgeries are made from) is still
signed in with an exact count at the end.

Rows needing other keys: "another deployment" mints a cookie on a
second stack (its own state directory, so its own key); "retired key"
mints a cookie, stops the stack, moves state/key to state/key.old,
writes a new key with lib/crumb-keygen and restarts: the cookie must be
read (count goes on) and re-issued, and the re-issued cookie must work
once key.old is gone (sealed under the current key).  That needs the
guestbook to load <state>/key.old with crumb_config_load_key_file(cfg,
path, 1) when present.
"""
import base64
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlib  # noqa: E402
from hlib import Client  # noqa: E402

rep = hlib.Report("bad-input")


class Ctx:
    pass


def raw_get(port, path, cookie_bytes):
    req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Cookie: " + cookie_bytes + b"\r\nConnection: close\r\n\r\n")
    return hlib.raw_request(port, req)


def body_of(raw):
    return raw.partition(b"\r\n\r\n")[2]


def probe_cookie(cx, name, cookie, owner=None):
    """GET /counter twice and GET / with a raw cookie header (str or
    bytes).  Passes when every answer is a 4xx or a fresh session."""
    cb = cookie if isinstance(cookie, bytes) else cookie.encode()
    seen = []
    for _ in range(2):
        st, raw = raw_get(cx.port, "/counter", cb)
        if st == 200:
            m = re.search(rb'"count":(\d+)', body_of(raw))
            seen.append(("count", int(m.group(1)) if m else None))
        else:
            seen.append(("status", st))
    st, raw = raw_get(cx.port, "/", cb)
    who = None
    if st == 200:
        m = hlib.USER_RE.search(body_of(raw))
        who = m.group(1).decode(errors="replace") if m else None
    seen.append(("page", st, who))
    fivexx = [s for s in seen if s[0] in ("status", "page") and
              (s[1] is None or s[1] >= 500)]
    adopted = [s for s in seen[:2] if s[0] == "count" and s[1] != 1]
    wrong = [s for s in seen[:2] if s[0] == "status" and
             not 400 <= s[1] < 500]
    ok = not fivexx and not adopted and not wrong and who is None
    how = "fresh" if seen[0] == ("count", 1) else "%s" % (seen[0][1],)
    rep.check(ok, "%s: fresh session or 4xx (got %s)" % (name, how),
              str(seen))
    alive(cx, name)


def alive(cx, name):
    dead = [p for p in cx.pids if not hlib.pid_alive(p)]
    if dead:
        rep.nok("%s: workers alive" % name, "dead: %s" % dead)
        cx.pids = [p for p in cx.pids if p not in dead]


def cookie_value(c):
    return c.cookies.get("id")


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def flip(value, pos, bit=0):
    raw = bytearray(b64d(value))
    raw[pos % len(raw)] ^= 1 << bit
    return b64e(bytes(raw))


def visitor_with(port, name, counts=3):
    v = Client(port)
    for _ in range(counts):
        v.get("/counter")
    if name:
        v.post("/login", {"name": name})
    return v


def form_status(r):
    return r.status if r is not None else None


def check_4xx(name, status, allowed=None, cx=None):
    ok = status is not None and (status in allowed if allowed else
                                 400 <= status < 500)
    rep.check(ok, "%s: answered %s" % (
        name, "/".join(map(str, allowed)) if allowed else "4xx"),
        "got %s" % status)
    if cx is not None:
        alive(cx, name)


def cookie_rows(cx, victim, other):
    vc = cookie_value(victim)
    probe_cookie(cx, "64 KiB Cookie header", "id=" + "A" * 65536)
    probe_cookie(cx, "5000 cookies",
                 "; ".join("c%d=v" % i for i in range(5000)))
    probe_cookie(cx, "900 cookies (under Apache's 8 KiB header limit)",
                 "; ".join("c%d=1" % i for i in range(900)))
    probe_cookie(cx, "two session cookies, both forged",
                 "id=%s; id=%s" % (flip(vc, 20), flip(vc, 40)))
    probe_cookie(cx, "NUL byte in the cookie", b"id=" + vc[:20].encode() +
                 b"\x00" + vc[20:].encode())
    probe_cookie(cx, "control bytes in the cookie",
                 b"id=\x01\x02\x1b[31m\x7f" + vc[:30].encode())
    # Apache refuses the two above itself (400); these reach the worker.
    probe_cookie(cx, "tab and 8-bit bytes in the cookie",
                 b"id=\t" + vc[:30].encode() + b"\xff\xfe\x80" +
                 vc[30:].encode())
    probe_cookie(cx, "8-bit bytes in other cookies beside the real one",
                 b"x=\xc3\x28\xff; y=\t\t; id=" + flip(vc, 9).encode())
    probe_cookie(cx, "invalid base64 (characters)", "id=" + "!*$@~" * 20)
    probe_cookie(cx, "invalid base64 (length 4n+1)", "id=" + vc[:4 * 20 + 1])
    probe_cookie(cx, "empty session cookie", "id=")
    probe_cookie(cx, "truncated ciphertext (half)", "id=" + vc[:len(vc) // 2])
    probe_cookie(cx, "truncated ciphertext (last byte)", "id=" + vc[:-2])
    probe_cookie(cx, "truncated ciphertext (header only)", "id=" + vc[:8])
    raw_len = len(b64d(vc))
    for pos, what in ((0, "first byte"), (5, "nonce"),
                      (raw_len // 2, "ciphertext"), (raw_len - 1, "tag")):
        probe_cookie(cx, "one flipped bit (%s)" % what,
                     "id=" + flip(vc, pos, 3))
    probe_cookie(cx, "cookie from another deployment's key",
                 "id=" + other)
    # Two real sessions of one client: either is the client's own; the
    # answer must be one of them or fresh, never anything else.
    a = visitor_with(cx.port, None, 5)
    b = visitor_with(cx.port, None, 10)
    st, raw = raw_get(cx.port, "/counter", ("id=%s; id=%s" % (
        cookie_value(a), cookie_value(b))).encode())
    m = re.search(rb'"count":(\d+)', body_of(raw))
    n = int(m.group(1)) if m and st == 200 else None
    rep.check(st is not None and st < 500 and n in (1, 6, 11, None),
              "two valid session cookies: one of the client's own sessions,"
              " fresh, or 4xx", "status %s count %s" % (st, n))
    rep.note("two valid session cookies -> %s" % (
        "the first (%d)" % n if n == 6 else "the second" if n == 11 else
        "fresh" if n == 1 else "status %s" % st))
    alive(cx, "two valid cookies")


def unknown_and_expired(cx):
    # well-formed but unknown: the record is deleted by signing out
    u = visitor_with(cx.port, "gone-user")
    dead = cookie_value(u)
    tok, _ = u.csrf()
    r = u.post("/logout", {"csrf": tok})
    rep.check(r.status == 303, "unknown ID: the owner signed out", str(r))
    probe_cookie(cx, "well-formed cookie of a deleted session", "id=" + dead)
    # expired: the record's expiry is put in the past
    e = visitor_with(cx.port, "expiring-user")
    ec = cookie_value(e)
    db = sqlite3.connect(os.path.join(cx.state, "sessions.db"), timeout=10)
    n = db.execute("UPDATE crumb_sessions SET expires = 0 WHERE user = ?",
                   ("expiring-user",)).rowcount
    db.commit()
    db.close()
    rep.check(n == 1, "expired: the record's expiry set to 0 (1 row)",
              "%d rows" % n)
    probe_cookie(cx, "expired session cookie", "id=" + ec)


def form_rows(cx, victim):
    port = cx.port
    # 10 MiB body, declared and sent
    head = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (10 << 20))
    st, _ = hlib.raw_request(port, head + b"name=",
                             chunks=[b"a" * 65536] * 160)
    check_4xx("10 MiB form body (got %s)" % st, st, cx=cx)
    st = Client(port).post("/login", {"name": "x" * (100 << 10)}).status
    check_4xx("100 KiB form body (over the guestbook's 64 KiB)", st, [413],
              cx)
    # invalid UTF-8
    st = Client(port).post("/login", "name=%FF%FE%FD",
                           headers={"Content-Type": "application/"
                                    "x-www-form-urlencoded"}).status
    check_4xx("invalid UTF-8 (percent-encoded) in a name", st, [400], cx)
    st = Client(port).post("/login", b"name=ab\xff\xfecd",
                           headers={"Content-Type": "application/"
                                    "x-www-form-urlencoded"}).status
    check_4xx("invalid UTF-8 (raw bytes) in a name", st, [400], cx)
    tok, _ = victim.csrf()
    st = victim.post("/post", "csrf=%s&message=%%C3%%28bad" % tok,
                     headers={"Content-Type": "application/"
                              "x-www-form-urlencoded"}).status
    check_4xx("invalid UTF-8 in a message", st, [400], cx)
    st = Client(port).post("/login", "name=a%00b",
                           headers={"Content-Type": "application/"
                                    "x-www-form-urlencoded"}).status
    check_4xx("NUL in a form field", st, [400], cx)
    st = Client(port).post("/login", "name=%G1%2",
                           headers={"Content-Type": "application/"
                                    "x-www-form-urlencoded"}).status
    check_4xx("bad percent escape in a form field", st, [400], cx)
    # <script> rendered escaped
    x = Client(port)
    x.get("/counter")
    name = "<script>alert(1)</script>"
    r = x.post("/login", {"name": name})
    tok, page = x.csrf()
    msg = "<script>alert(2)</script><img src=x onerror=alert(3)>\"'&"
    r2 = x.post("/post", {"message": msg, "csrf": tok or ""})
    page = x.get("/").body
    rep.check(r.status == 303 and r2.status == 303,
              "<script> name and message accepted (303, 303)",
              "%s %s" % (r.status, r2.status))
    rep.check(b"<script>alert" not in page and b"<img src=x" not in page,
              "<script> in a name or message never reaches the page raw")
    rep.check(b"&lt;script&gt;alert(1)&lt;/script&gt;" in page and
              b"&lt;script&gt;alert(2)&lt;/script&gt;&lt;img src=x "
              b"onerror=alert(3)&gt;&quot;&#39;&amp;" in page or
              b"&lt;script&gt;alert(2)&lt;/script&gt;&lt;img src=x "
              b"onerror=alert(3)&gt;&quot;&#x27;&amp;" in page,
              "<script> name and message are shown HTML-escaped")
    alive(cx, "<script>")
    # missing CONTENT_LENGTH: chunked body
    req = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"9\r\nname=chnk\r\n0\r\n\r\n")
    st, raw = hlib.raw_request(port, req)
    rep.check(st is not None and (400 <= st < 500 or st == 303),
              "missing Content-Length (chunked body): 4xx (or 303 if "
              "Apache counted it), never 5xx", "got %s" % st)
    rep.note("chunked POST /login -> %s" % st)
    alive(cx, "chunked")
    req = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\n"
           b"Connection: close\r\n\r\n")
    st, raw = hlib.raw_request(port, req)
    check_4xx("POST without Content-Length or body (got %s)" % st, st,
              cx=cx)
    # CONTENT_LENGTH larger than the body, client closes early
    req = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: 1000\r\nConnection: close\r\n\r\nname=short")
    t0 = time.monotonic()
    st, raw = hlib.raw_request(port, req, shut_wr=True, timeout=40)
    secs = time.monotonic() - t0
    rep.check(st is None or 400 <= st < 500,
              "Content-Length larger than the body (client closes): 4xx "
              "or no answer, never 5xx (got %s after %.1f s)" % (st, secs),
              "got %s after %.1f s" % (st, secs))
    alive(cx, "short body")
    # Nobody is left stuck reading: every worker answers at once.
    import threading
    res = []

    def one():
        try:
            res.append(Client(port, timeout=10).get("/counter").status)
        except Exception as e:  # noqa: BLE001
            res.append(repr(e))
    ts = [threading.Thread(target=one) for _ in range(2 * len(cx.pids))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rep.check(res and all(s == 200 for s in res),
              "afterwards every worker serves at once (no stuck reader)",
              str(res))


def retired_key(cx, build):
    """Stops and restarts cx.stack with a rotated key."""
    rv = visitor_with(cx.port, "retired-user")
    before = rv.get("/counter").count()
    old_cookie = cookie_value(rv)
    cx.stack.stop()
    key = os.path.join(cx.state, "key")
    st = os.stat(key)
    os.rename(key, key + ".old")
    subprocess.run([os.path.join(build, "lib/crumb-keygen"), key],
                   check=True, capture_output=True)
    os.chown(key, st.st_uid, st.st_gid)
    cx.stack.start()
    cx.port = cx.stack.port
    cx.pids = cx.stack.worker_pids()
    rv.move_to(cx.port)
    r = rv.get("/counter")
    reissued = hlib.session_cookie_from(r)
    rep.check(r.status == 200 and r.count() == before + 1,
              "retired key: a cookie sealed under state/key.old is read "
              "(count goes on)", "count %s, want %d%s" % (
                  r.count(), before + 1,
                  " - the guestbook does not load key.old"
                  if r.count() == 1 else ""))
    rep.check(r.count() == before + 1 and reissued is not None and
              reissued[0] != old_cookie,
              "retired key: the same session's cookie is re-issued",
              "count %s, Set-Cookie %s" % (r.count(), reissued and "yes"))
    # Without key.old the re-issued cookie still works: current key.
    cx.stack.stop()
    os.unlink(key + ".old")
    cx.stack.start()
    cx.port = cx.stack.port
    cx.pids = cx.stack.worker_pids()
    rv.move_to(cx.port)
    if reissued and r.count() == before + 1:
        r2 = rv.get("/counter")
        rep.check(r2.count() == before + 2, "retired key: the re-issued "
                  "cookie is sealed under the current key",
                  "count %s" % r2.count())
    probe_cookie(cx, "cookie under a key that is no longer configured",
                 "id=" + old_cookie)


def main():
    build = hlib.build_dir_arg()
    hlib.need_tools()
    tmp = hlib.temp_dir("crumb-bad-")
    cx = Ctx()
    cx.state = os.path.join(tmp, "state")
    cx.stack = hlib.Stack(build, cx.state, workers=2)
    other = hlib.Stack(build, os.path.join(tmp, "other"), workers=1)
    try:
        other.start()
        o = visitor_with(other.port, "elsewhere")
        other_cookie = cookie_value(o)
        hlib.stop_and_check(rep, other, "second deployment's stack")
        cx.stack.start()
        cx.port = cx.stack.port
        cx.pids = cx.stack.worker_pids()
        first = list(cx.pids)
        victim = visitor_with(cx.port, "victim")
        vcount = victim.get("/counter").count()
        cookie_rows(cx, victim, other_cookie)
        unknown_and_expired(cx)
        form_rows(cx, victim)
        r = victim.get("/counter")
        rep.check(r.count() == vcount + 1 and
                  hlib.signed_in_as(victim.get("/")) == "victim",
                  "the victim's session is untouched by the forgeries "
                  "(still signed in, count exact)", "count %s, want %d"
                  % (r.count(), vcount + 1))
        rep.check(cx.stack.worker_pids() == first and
                  all(hlib.pid_alive(p) for p in first),
                  "no worker crashed: same pids %s, all alive" % first)
        err = cx.stack.log_text("error.log")
        rep.note("guestbook lines in error.log: %d" % err.count(
            "guestbook:"))
        if rep.fails:
            rep.note(cx.stack.log_tail())
        retired_key(cx, build)
    except hlib.StackError as e:
        rep.nok("stack started", str(e))
    finally:
        hlib.stop_and_check(rep, cx.stack)
        other.stop()
    for db in ("sessions.db", "guestbook.db"):
        res = hlib.integrity(os.path.join(cx.state, db))
        rep.check(res == "ok", "integrity_check of %s" % db, res)
    if not rep.fails:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        rep.note("state kept in %s" % tmp)
    return rep.done()


if __name__ == "__main__":
    sys.exit(main())
