#!/usr/bin/env python3
"""Load generator and checker of bench/soak.sh (Python 3.11, standard library only).

It drives Sésame the way browsers and applications do: the real login pages (forms
parsed generically, cookies in a cookie jar, Location headers followed), TOTP computed
with hmac (RFC 6238), and the token and introspection endpoints. It keeps a record of
every request (time, node, kind, outcome) and every operation, then checks those
records and the database after the faults bench/soak.sh injected.

Subcommands (bench/soak.sh calls them; each prints what it does):
  import-file   the import file: bench/soak/soak-import.toml plus N generated accounts
  setup         enrolls every account's authenticator through the real pages
  run           the mixed load against two nodes, plus a /readyz poller
  check         the checks and the summary, from the records, the fault events and psql
  sqlite-load   a write-heavy load against one node until a stop file appears
  sqlite-check  PRAGMA integrity_check (and foreign_key_check) of a SQLite database
  login-once    one full login and code redemption; exit status says if it worked
"""

import argparse
import base64
import collections
import hashlib
import hmac
import html.parser
import http.client
import http.cookiejar
import json
import os
import random
import secrets
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_ID = "soak-web"
CLIENT_SECRET = "soak-web-secret-0123456789-abcdef"
CALLBACK = "https://soak.example/callback"
USER_SCOPE = "openid profile offline_access"
SERVICE_SCOPE = "soak.api"

# Outcome classes of one HTTP request.
CLEAN_ERRORS = {"conn_refused", "conn_reset"}  # a dead node: the client learns it at once


def now():
    return time.time()


def log(*args):
    print("loadgen:", *args, flush=True)


def token_hash(value):
    """Sésame's storage hash of codes and refresh tokens (SHA-256, base64url)."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# ---------------------------------------------------------------------------------
# TOTP (RFC 6238)


class Totp:
    def __init__(self, secret, digits=6, period=30, algorithm="SHA1"):
        secret = "".join(secret.split()).upper()
        self.key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        self.digits, self.period = digits, period
        self.algorithm = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}[algorithm]
        self.secret = secret

    @classmethod
    def from_page(cls, secret_text, uri_text):
        digits, period, algorithm = 6, 30, "SHA1"
        if uri_text and uri_text.strip().startswith("otpauth://"):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(uri_text.strip()).query)
            digits = int(query.get("digits", ["6"])[0])
            period = int(query.get("period", ["30"])[0])
            algorithm = query.get("algorithm", ["SHA1"])[0].upper()
            if not secret_text:
                secret_text = query.get("secret", [""])[0]
        return cls(secret_text, digits, period, algorithm)

    def step(self, at=None):
        return int((now() if at is None else at) // self.period)

    def code(self, step):
        mac = hmac.new(self.key, struct.pack(">Q", step), self.algorithm).digest()
        offset = mac[-1] & 0x0F
        value = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**self.digits
        return str(value).zfill(self.digits)

    def to_json(self):
        alg = {hashlib.sha1: "SHA1", hashlib.sha256: "SHA256", hashlib.sha512: "SHA512"}[self.algorithm]
        return {"secret": self.secret, "digits": self.digits, "period": self.period, "algorithm": alg}


# ---------------------------------------------------------------------------------
# HTML: forms and a few elements by id, parsed generically


class Page(html.parser.HTMLParser):
    WANTED_IDS = {"totp-secret", "totp-uri"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.forms = []  # {"method", "action", "inputs": [(type, name, value)]}
        self.by_id = {}
        self.alerts = []
        self._form = None
        self._capture = []  # stack of (id or None, tag)
        self._alert_depth = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""), "inputs": []}
            self.forms.append(self._form)
        elif tag in ("input", "textarea", "select") and self._form is not None:
            self._form["inputs"].append((a.get("type", "text").lower(), a.get("name", ""), a.get("value", "")))
        if tag not in ("input", "br", "img", "meta", "link", "hr"):
            ident = a.get("id") if a.get("id") in self.WANTED_IDS else None
            self._capture.append((ident, tag))
            if ident:
                self.by_id[ident] = ""
            if a.get("role") == "alert" or self._alert_depth:
                self._alert_depth += 1
                if a.get("role") == "alert":
                    self.alerts.append("")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        # Pop to the matching tag (HTML is lenient about closing tags).
        for i in range(len(self._capture) - 1, -1, -1):
            if self._capture[i][1] == tag:
                del self._capture[i:]
                break
        if self._alert_depth:
            self._alert_depth -= 1

    def handle_data(self, data):
        for ident, _ in self._capture:
            if ident:
                self.by_id[ident] += data
        if self._alert_depth and self.alerts:
            self.alerts[-1] += data

    def post_form(self):
        """The page's form to submit: one asking for a code or credentials, else the first POST form."""
        posts = [f for f in self.forms if f["method"] == "post"]
        for form in posts:
            names = {name for _, name, _ in form["inputs"]}
            if names & {"code", "username", "password"}:
                return form
        return posts[0] if posts else None


# ---------------------------------------------------------------------------------
# HTTP with a record of every request


class Response:
    __slots__ = ("status", "headers", "body", "error", "t0", "t1")

    def __init__(self, status=None, headers=None, body=b"", error=None, t0=0.0, t1=0.0):
        self.status, self.headers, self.body, self.error, self.t0, self.t1 = status, headers, body, error, t0, t1

    @property
    def answered(self):
        return self.error is None and self.status is not None

    @property
    def failed_clean(self):
        """Refused or reset connection (dead node), or a 5xx answer (the server says it cannot)."""
        return self.error in CLEAN_ERRORS or (self.answered and self.status >= 500)

    @property
    def failed_unclean(self):
        return self.error is not None and self.error not in CLEAN_ERRORS

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _CookieResponse:
    def __init__(self, headers):
        self._headers = headers

    def info(self):
        return self._headers


class Http:
    def __init__(self, nodes, timeout, records):
        self.nodes = nodes  # name -> (host, port)
        self.timeout = timeout
        self.records = records  # list of (t0, t1, node, kind, outcome)

    def request(self, node, method, path, *, body=None, headers=None, jar=None, kind=None):
        host, port = self.nodes[node]
        hdrs = {"User-Agent": "sesame-soak/1", "Accept": "text/html,application/json", "Connection": "close"}
        if headers:
            hdrs.update(headers)
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body).encode() if isinstance(body, dict) else body
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        ureq = None
        if jar is not None:
            ureq = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
            jar.add_cookie_header(ureq)
            cookie = ureq.unredirected_hdrs.get("Cookie") or ureq.headers.get("Cookie")
            if cookie:
                hdrs["Cookie"] = cookie
        t0 = now()
        resp = Response(t0=t0)
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            resp.body = r.read()
            resp.status, resp.headers = r.status, r.msg
        except ConnectionRefusedError:
            resp.error = "conn_refused"
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected,
                http.client.IncompleteRead):
            resp.error = "conn_reset"
        except (socket.timeout, TimeoutError):
            resp.error = "timeout"
        except http.client.HTTPException as e:
            resp.error = "bad_response:" + type(e).__name__
        except OSError as e:
            resp.error = "oserror:" + (os.strerror(e.errno) if e.errno else type(e).__name__)
        finally:
            conn.close()
        resp.t1 = now()
        if resp.error is None and resp.t1 - t0 > self.timeout:
            resp.error = "slow"  # answered, but later than the timeout
        if jar is not None and resp.headers is not None:
            jar.extract_cookies(_CookieResponse(resp.headers), ureq)
        outcome = resp.error or str(resp.status)
        self.records.append((round(t0, 3), round(resp.t1, 3), node, kind or request_kind(method, path), outcome))
        return resp

    def token(self, node, params, kind):
        auth = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return self.request(node, "POST", "/token", body=params, headers={"Authorization": "Basic " + auth,
                                                                           "Accept": "application/json"}, kind=kind)

    def introspect(self, node, token):
        auth = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return self.request(node, "POST", "/introspect", body={"token": token},
                            headers={"Authorization": "Basic " + auth, "Accept": "application/json"},
                            kind="POST /introspect")


def request_kind(method, path):
    path = path.split("?")[0]
    if path.startswith("/login/enroll/"):
        path = "/login/enroll/*"
    return f"{method} {path}"


# ---------------------------------------------------------------------------------
# Accounts and their TOTP steps


class Account:
    def __init__(self, username, password, totp=None, last_step=0, xff="10.0.0.1"):
        self.username, self.password, self.totp, self.last_step, self.xff = username, password, totp, last_step, xff
        self.busy = False
        self.phase = 0.0  # seconds into a TOTP step at which this account logs in: logins spread evenly

    def ready_at(self):
        """When its next TOTP step (one past the last it used) comes, at its phase."""
        return (self.last_step + 1) * self.totp.period + self.phase

    def to_json(self):
        return {"username": self.username, "password": self.password, "last_step": self.last_step, "xff": self.xff,
                "totp": self.totp.to_json() if self.totp else None}

    @classmethod
    def from_json(cls, d):
        t = d.get("totp")
        totp = Totp(t["secret"], t["digits"], t["period"], t["algorithm"]) if t else None
        return cls(d["username"], d["password"], totp, d.get("last_step", 0), d.get("xff", "10.0.0.1"))


def account_list(prefix, count, two_factor):
    out = []
    for i in range(count):
        name = f"{prefix}{i:04d}"
        out.append(Account(name, f"quiet harbour {secrets.token_hex(4)} lamp {i}", None, 0,
                           f"10.{77 + (i // 60000)}.{(i // 250) % 250}.{1 + i % 250}"))
    return out


# ---------------------------------------------------------------------------------
# One browser login through the real pages


class LoginResult:
    def __init__(self):
        self.outcome = None  # ok | fail_clean | fail_unclean | wrong
        self.code = None
        self.detail = ""
        self.nodes = set()
        self.enrolled_step = None


def browser_login(http_, acct, pick_node, enroll_ok=False, max_steps=30):
    """Logs `acct` in with a fresh cookie jar; pick_node() chooses the node of each request."""
    res = LoginResult()
    jar = http.cookiejar.CookieJar()
    state = secrets.token_urlsafe(12)
    query = urllib.parse.urlencode({"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "response_type": "code",
                                    "scope": USER_SCOPE, "state": state, "nonce": secrets.token_urlsafe(12)})
    method, path, body = "GET", "/authorize?" + query, None
    xff = {"X-Forwarded-For": acct.xff}
    posted_password = False
    posted_codes = 0
    for _ in range(max_steps):
        node = pick_node()
        res.nodes.add(node)
        r = http_.request(node, method, path, body=body, jar=jar, headers=xff)
        if not r.answered or r.status >= 500:
            res.outcome = "fail_clean" if r.failed_clean else "fail_unclean"
            res.detail = f"{method} {path.split('?')[0]} at {node}: {r.error or r.status}"
            return res
        if r.status in (301, 302, 303, 307, 308):
            location = r.headers.get("Location", "")
            if location.startswith(CALLBACK):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                if q.get("state", [None])[0] != state:
                    res.outcome, res.detail = "wrong", f"state mismatch in {location[:80]}"
                elif "code" in q:
                    res.outcome, res.code = "ok", q["code"][0]
                else:
                    res.outcome, res.detail = "wrong", f"error at callback: {q.get('error')} {q.get('error_description')}"
                return res
            split = urllib.parse.urlsplit(urllib.parse.urljoin(f"http://x{path}", location))
            if split.netloc not in ("x",) and not split.netloc.startswith("127.0.0.1"):
                res.outcome, res.detail = "wrong", f"redirect outside Sésame: {location[:80]}"
                return res
            # Relative or absolute to the issuer: the next node is chosen by pick_node().
            method, path, body = "GET", split.path + ("?" + split.query if split.query else ""), None
            continue
        if r.status != 200:
            page = Page(r.body.decode("utf-8", "replace"))
            res.outcome = "wrong"
            res.detail = f"{method} {path.split('?')[0]} at {node}: {r.status} {' '.join(page.alerts).strip()[:120]}"
            return res
        page = Page(r.body.decode("utf-8", "replace"))
        form = page.post_form()
        if form is None:
            res.outcome, res.detail = "wrong", f"no form on {path.split('?')[0]}"
            return res
        if page.alerts and (posted_password or posted_codes):
            res.outcome = "wrong"
            res.detail = f"refused at {path.split('?')[0]}: {' '.join(page.alerts).strip()[:120]}"
            return res
        fields = {name: value for typ, name, value in form["inputs"] if typ == "hidden" and name}
        names = {name for _, name, _ in form["inputs"]}
        action = urllib.parse.urlsplit(urllib.parse.urljoin(f"http://x{path}", form["action"] or path))
        action_path = action.path + ("?" + action.query if action.query else "")
        if "username" in names and "password" in names:
            if posted_password:
                res.outcome, res.detail = "wrong", "login form shown again after the password"
                return res
            fields.update(username=acct.username, password=acct.password)
            posted_password = True
        elif "code" in names or action.path.endswith("/verify"):
            if posted_codes >= 2:
                res.outcome, res.detail = "wrong", f"code page shown again at {action.path}"
                return res
            if "totp-secret" in page.by_id or "totp-uri" in page.by_id:
                if not enroll_ok:
                    res.outcome, res.detail = "wrong", "enrollment asked of an enrolled account"
                    return res
                acct.totp = Totp.from_page(page.by_id.get("totp-secret", ""), page.by_id.get("totp-uri", ""))
                step = acct.totp.step()
                res.enrolled_step = step
            else:
                if acct.totp is None:
                    res.outcome, res.detail = "wrong", "second factor asked of an account without one"
                    return res
                step = max(acct.totp.step(), acct.last_step + 1)
                if step > acct.totp.step() + 1:
                    res.outcome, res.detail = "wrong", "no unused TOTP step (scheduler bug)"
                    return res
                fields["method"] = "totp"
            fields["code"] = acct.totp.code(step)
            acct.last_step = max(acct.last_step, step)  # submitted: never use it again
            posted_codes += 1
        method, path, body = "POST", action_path, fields
    res.outcome, res.detail = "wrong", "too many steps"
    return res


def redeem(http_, node, code, kind="POST /token (authorization_code)"):
    return http_.token(node, {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}, kind)


def rotate(http_, node, refresh_token):
    return http_.token(node, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                       "POST /token (refresh_token)")


def in_parallel(*calls):
    """Runs the calls at the same moment (a barrier), returns their results in order."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def go(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# ---------------------------------------------------------------------------------
# The mixed load


class Load:
    def __init__(self, args, nodes, accounts):
        self.args = args
        self.node_names = sorted(nodes)
        self.requests = []
        self.http = Http(nodes, args.timeout, self.requests)
        self.accounts = accounts
        for i, acct in enumerate(accounts):
            if acct.totp:
                acct.phase = (acct.totp.period - 3) * i / max(1, len(accounts))
        self.lock = threading.Lock()
        self.ops = []  # (t0, t1, node, kind, outcome, detail)
        self.families = collections.deque()  # live refresh families: dict(rt, at)
        self.access_tokens = collections.deque(maxlen=400)  # (token, expected_active or None)
        self.code_accepts = collections.Counter()  # code hash -> 200 answers
        self.code_answers = collections.defaultdict(list)
        self.rt_accepts = collections.Counter()  # refresh token hash -> 200 answers
        self.violations = []  # (time, check, detail)
        self.redeemed_codes = []  # hashes of codes redeemed with 200
        self.not_revoked_grants = []  # hashes of twice-redeemed codes whose first tokens still worked
        self.logins_ok = 0
        self.stop = threading.Event()
        self.readyz = []  # (t0, t1, node, outcome)

    # -- bookkeeping
    def op(self, t0, node, kind, outcome, detail=""):
        self.ops.append((round(t0, 3), round(now(), 3), node, kind, outcome, detail))

    def violation(self, check, detail):
        log(f"VIOLATION {check}: {detail}")
        self.violations.append((round(now(), 3), check, detail))

    def other(self, node):
        return [n for n in self.node_names if n != node][0] if len(self.node_names) > 1 else node

    def pick_account(self):
        with self.lock:
            t = now()
            free = [a for a in self.accounts if not a.busy and a.totp and t >= a.ready_at()]
            if not free:
                return None
            acct = random.choice(free)
            acct.busy = True
            return acct

    def outcome_of(self, r, ok_statuses=(200,)):
        if r.status in ok_statuses and r.error is None:
            return "ok"
        if r.failed_clean:
            return "fail_clean"
        if r.failed_unclean:
            return "fail_unclean"
        return "wrong"

    def accepted_code(self, code, r):
        if r.answered:
            self.code_answers[token_hash(code)].append(r.status)
        if r.status == 200:
            h = token_hash(code)
            self.code_accepts[h] += 1
            self.redeemed_codes.append(h)
            if self.code_accepts[h] > 1:
                self.violation("code redeemed twice", f"code {h[:10]}… accepted {self.code_accepts[h]} times")

    def accepted_refresh(self, rt, r):
        if r.status == 200:
            h = token_hash(rt)
            self.rt_accepts[h] += 1
            if self.rt_accepts[h] > 1:
                self.violation("refresh token accepted after rotation",
                               f"token {h[:10]}… accepted {self.rt_accepts[h]} times (last at {r.t1:.3f})")

    # -- operations
    def do_login(self, acct):
        mode = random.random()
        if mode < 0.35:
            label, pick = "mixed", (lambda: random.choice(self.node_names))
        else:
            fixed = random.choice(self.node_names)
            label, pick = fixed, (lambda: fixed)
        t0 = now()
        res = browser_login(self.http, acct, pick)
        self.op(t0, label, "login", res.outcome, res.detail)
        if res.outcome != "ok":
            return
        with self.lock:
            self.logins_ok += 1
        if random.random() < 0.35:
            self.double_redeem(res.code, concurrent=random.random() < 0.5)
        else:
            self.single_redeem(res.code)

    def single_redeem(self, code):
        node = random.choice(self.node_names)
        t0 = now()
        r = redeem(self.http, node, code)
        self.accepted_code(code, r)
        outcome = self.outcome_of(r)
        self.op(t0, node, "redeem", outcome, "" if outcome == "ok" else f"{r.error or r.status} {r.body[:120]!r}")
        if outcome == "ok":
            body = r.json() or {}
            if body.get("access_token"):
                self.access_tokens.append((body["access_token"], True))
            if body.get("refresh_token"):
                with self.lock:
                    self.families.append({"rt": body["refresh_token"], "at": body.get("access_token")})
                    while len(self.families) > 600:
                        self.families.popleft()
            else:
                self.op(t0, node, "redeem", "wrong", "no refresh token for a first-party client with offline_access")

    def double_redeem(self, code, concurrent):
        a = random.choice(self.node_names)
        b = self.other(a)
        t0 = now()
        if concurrent:
            r1, r2 = in_parallel(lambda: redeem(self.http, a, code, "POST /token (authorization_code, twice)"),
                                 lambda: redeem(self.http, b, code, "POST /token (authorization_code, twice)"))
        else:
            r1 = redeem(self.http, a, code)
            r2 = redeem(self.http, b, code, "POST /token (authorization_code, again)")
        self.accepted_code(code, r1)
        self.accepted_code(code, r2)
        kind = "double_redeem_" + ("concurrent" if concurrent else "sequential")
        answers = f"{r1.error or r1.status}/{r2.error or r2.status}"
        wins = [r for r in (r1, r2) if r.status == 200]
        if r1.failed_unclean or r2.failed_unclean:
            self.op(t0, f"{a}+{b}", kind, "fail_unclean", answers)
            return
        if r1.failed_clean or r2.failed_clean:
            self.op(t0, f"{a}+{b}", kind, "fail_clean", answers)
            return
        # One after the other: the first wins. At the same moment: at most one wins, and
        # both may be refused — the winner, finding its grant revoked by the racing reuse
        # right after storing its tokens, refuses too (RFC 6749 4.1.2: deny, revoke).
        allowed_wins = (1,) if not concurrent else (0, 1)
        if len(wins) not in allowed_wins or any(r.status not in (200, 400) for r in (r1, r2)):
            # Two successes: already a violation; two sequential refusals: the code is lost.
            self.op(t0, f"{a}+{b}", kind, "wrong", answers)
            return
        self.op(t0, f"{a}+{b}", kind, "ok", answers)
        if not wins:
            return
        body = wins[0].json() or {}
        # The second redemption revokes what the first produced (README: access and refresh tokens).
        t1 = now()
        checks = []
        if body.get("access_token"):
            node = random.choice(self.node_names)
            ri = self.http.introspect(node, body["access_token"])
            j = ri.json() if ri.status == 200 else None
            if j is not None:
                checks.append(("access", j.get("active") is False))
        if body.get("refresh_token"):
            node = random.choice(self.node_names)
            rr = rotate(self.http, node, body["refresh_token"])
            self.accepted_refresh(body["refresh_token"], rr)
            if rr.answered and rr.status < 500:
                checks.append(("refresh", rr.status != 200))
        failed = [what for what, good in checks if not good]
        mode = "concurrent" if concurrent else "sequential"
        if failed:
            self.not_revoked_grants.append(token_hash(code))
            self.violation(f"tokens of a twice-redeemed code not revoked ({mode})",
                           f"code {token_hash(code)[:10]}… answers {answers}: still accepted: {', '.join(failed)}")
            self.op(t1, "any", f"code_reuse_revokes_{mode}", "not_revoked", ",".join(failed))
        elif checks:
            self.op(t1, "any", f"code_reuse_revokes_{mode}", "ok")

    def do_rotate(self):
        with self.lock:
            if not self.families:
                return False
            fam = self.families.popleft() if random.random() < 0.5 else self.families.pop()
        node = random.choice(self.node_names)
        t0 = now()
        old = fam["rt"]
        r = rotate(self.http, node, old)
        self.accepted_refresh(old, r)
        outcome = self.outcome_of(r)
        self.op(t0, node, "rotate", outcome, "" if outcome == "ok" else f"{r.error or r.status} {r.body[:120]!r}")
        if outcome != "ok":
            return True  # the family's state is unknown (or dead): drop it
        body = r.json() or {}
        new = body.get("refresh_token")
        if body.get("access_token"):
            self.access_tokens.append((body["access_token"], True))
        if not new:
            self.op(t0, node, "rotate", "wrong", "no new refresh token")
            return True
        dice = random.random()
        if dice < 0.25:
            # Present the rotated token again at the other node: grace 0, it must be refused,
            # and the whole family (the new token too) revoked.
            other = self.other(node)
            t1 = now()
            r2 = rotate(self.http, other, old)
            self.accepted_refresh(old, r2)
            if r2.status == 200:
                self.op(t1, other, "reuse_old", "wrong", "rotated token accepted again")
                return True
            o2 = "ok" if r2.answered and 400 <= r2.status < 500 else self.outcome_of(r2)
            self.op(t1, other, "reuse_old", o2, f"{r2.error or r2.status}")
            if o2 != "ok":
                return True
            r3 = rotate(self.http, random.choice(self.node_names), new)
            self.accepted_refresh(new, r3)
            if r3.status == 200:
                self.violation("reuse did not revoke the family", f"successor {token_hash(new)[:10]}… still accepted")
                self.op(t1, "any", "refresh_reuse_revokes", "not_revoked", "successor accepted after reuse")
            elif r3.answered and 400 <= r3.status < 500:
                self.op(t1, "any", "refresh_reuse_revokes", "ok")
            else:
                self.op(t1, "any", "refresh_reuse_revokes", self.outcome_of(r3), f"{r3.error or r3.status}")
        elif dice < 0.40:
            # The same token rotated at both nodes at once: at most one success.
            a = random.choice(self.node_names)
            t1 = now()
            r1, r2 = in_parallel(lambda: rotate(self.http, a, new), lambda: rotate(self.http, self.other(a), new))
            self.accepted_refresh(new, r1)
            self.accepted_refresh(new, r2)
            answers = f"{r1.error or r1.status}/{r2.error or r2.status}"
            wins = sum(1 for x in (r1, r2) if x.status == 200)
            if r1.failed_unclean or r2.failed_unclean:
                outcome = "fail_unclean"
            elif r1.failed_clean or r2.failed_clean:
                outcome = "fail_clean" if wins <= 1 else "wrong"
            else:
                outcome = "ok" if wins == 1 else "wrong"
            self.op(t1, f"{a}+{self.other(a)}", "rotate_concurrent", outcome, answers)
        else:
            with self.lock:
                self.families.append({"rt": new, "at": body.get("access_token")})
        return True

    def do_client_credentials(self):
        node = random.choice(self.node_names)
        t0 = now()
        r = self.http.token(node, {"grant_type": "client_credentials", "scope": SERVICE_SCOPE},
                            "POST /token (client_credentials)")
        outcome = self.outcome_of(r)
        if outcome == "ok":
            tok = (r.json() or {}).get("access_token")
            if tok:
                self.access_tokens.append((tok, True))
            else:
                outcome = "wrong"
        self.op(t0, node, "client_credentials", outcome, "" if outcome == "ok" else f"{r.error or r.status}")

    def do_introspect(self):
        if not self.access_tokens:
            return False
        token, _expected = random.choice(self.access_tokens)
        node = random.choice(self.node_names)
        t0 = now()
        r = self.http.introspect(node, token)
        outcome = self.outcome_of(r)
        if outcome == "ok" and "active" not in (r.json() or {}):
            outcome = "wrong"
        self.op(t0, node, "introspect", outcome, "" if outcome == "ok" else f"{r.error or r.status}")
        return True

    def worker(self):
        """Operations at random: a TOTP login when an account has an unused step, else a
        refresh rotation, client_credentials or an introspection. The cheap ones are paced
        (`think`), and every failure is followed by a short back-off, as real clients do."""
        while not self.stop.is_set():
            before = len(self.ops)
            cheap = False
            try:
                dice = random.random()
                acct = self.pick_account() if dice < 0.5 else None
                if acct is not None:
                    try:
                        self.do_login(acct)
                    finally:
                        acct.busy = False
                elif dice < 0.75 and self.do_rotate():
                    pass
                else:
                    cheap = True
                    if random.random() < 0.5 or not self.do_introspect():
                        self.do_client_credentials()
            except Exception as e:  # a bug of the load generator must not stop the soak silently
                self.violation("load generator error", f"{type(e).__name__}: {e}")
            failed = any(o[4] != "ok" for o in self.ops[before:])
            pause = (self.args.think if cheap else 0) + (0.1 if failed else 0)
            if pause:
                time.sleep(pause)

    def readyz_poller(self, node):
        probe = Http(self.http.nodes, min(self.args.timeout, 10), [])
        while not self.stop.is_set():
            r = probe.request(node, "GET", "/readyz")
            self.readyz.append((round(r.t0, 3), round(r.t1, 3), node, r.error or str(r.status)))
            time.sleep(0.25)

    def run(self, duration):
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.workers)]
        pollers = [threading.Thread(target=self.readyz_poller, args=(n,), daemon=True) for n in self.node_names]
        for poller in pollers:
            poller.start()
        for t in threads:
            t.start()
        end = now() + duration
        last = now()
        while now() < end:
            time.sleep(min(1.0, max(0.0, end - now())))
            if now() - last >= 15:
                last = now()
                ok = sum(1 for o in self.ops if o[4] == "ok")
                bad = len(self.ops) - ok
                log(f"t+{duration - (end - now()):5.0f}s  {len(self.requests)} requests, "
                    f"{len(self.ops)} operations ({bad} not ok), {self.logins_ok} logins")
        self.stop.set()
        for t in threads:
            t.join(timeout=self.args.timeout * 3 + 5)
        for poller in pollers:
            poller.join(timeout=15)


def parse_nodes(text):
    nodes = {}
    for part in text.split(","):
        name, url = part.split("=", 1)
        split = urllib.parse.urlsplit(url)
        nodes[name] = (split.hostname, split.port)
    return nodes


# ---------------------------------------------------------------------------------
# Subcommands


def cmd_import_file(args):
    with open(os.path.join(HERE, "soak-import.toml"), encoding="utf-8") as f:
        out = [f.read()]
    accounts = account_list(args.prefix, args.accounts, args.two_factor)
    for a in accounts:
        out.append(
            "\n[[accounts]]\n"
            f'username = "{a.username}"\npassword = "{a.password}"\n'
            f'first_name = "Soak"\nlast_name = "Account {a.username[-4:]}"\n'
            f"two_factor_required = {'true' if args.two_factor else 'false'}\n"
            'access = [{ application = "SOAK" }]\n'
        )
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("".join(out))
    with open(args.accounts_file, "w", encoding="utf-8") as f:
        json.dump([a.to_json() for a in accounts], f)
    log(f"import file {args.out}: {len(accounts)} accounts ({'two-factor' if args.two_factor else 'password only'})")


def cmd_setup(args):
    nodes = parse_nodes(args.nodes)
    with open(args.accounts_file, encoding="utf-8") as f:
        accounts = [Account.from_json(d) for d in json.load(f)]
    records = []
    http_ = Http(nodes, args.timeout, records)
    names = sorted(nodes)
    failures = []
    lock = threading.Lock()
    queue = collections.deque(enumerate(accounts))
    logins = [0]

    def work():
        while True:
            with lock:
                if not queue:
                    return
                i, acct = queue.popleft()
            node = names[i % len(names)]
            for attempt in range(3):
                res = browser_login(http_, acct, lambda: node, enroll_ok=True)
                if res.outcome == "ok":
                    break
                time.sleep(1)
            if res.outcome != "ok" or acct.totp is None or res.enrolled_step is None:
                with lock:
                    failures.append(f"{acct.username}: {res.outcome} {res.detail}")
                continue
            with lock:
                logins[0] += 1
            r = redeem(http_, names[(i + 1) % len(names)], res.code)
            if r.status != 200:
                with lock:
                    failures.append(f"{acct.username}: code redemption {r.error or r.status} {r.body[:100]!r}")

    t0 = now()
    threads = [threading.Thread(target=work) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.accounts_file, "w", encoding="utf-8") as f:
        json.dump([a.to_json() for a in accounts], f)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"enrolled": logins[0], "requests": len(records), "seconds": round(now() - t0, 1)}, f)
    log(f"enrolled {logins[0]}/{len(accounts)} authenticators through the pages in {now() - t0:.1f}s "
        f"({len(records)} requests)")
    if failures:
        for line in failures[:10]:
            log("  enrollment failed:", line)
        sys.exit(1)


def cmd_run(args):
    nodes = parse_nodes(args.nodes)
    with open(args.accounts_file, encoding="utf-8") as f:
        accounts = [Account.from_json(d) for d in json.load(f)]
    load = Load(args, nodes, accounts)
    log(f"mixed load for {args.duration}s: {args.workers} workers, {len(accounts)} accounts, nodes "
        + ", ".join(f"{k}={h}:{p}" for k, (h, p) in sorted(nodes.items())))
    t0 = now()
    load.run(args.duration)
    out = {
        "start": t0, "end": now(), "timeout": args.timeout,
        "requests": load.requests, "ops": load.ops, "readyz": load.readyz,
        "violations": load.violations, "logins_ok": load.logins_ok,
        "redeemed_codes": load.redeemed_codes, "not_revoked_grants": load.not_revoked_grants,
        "code_answers": {k: v for k, v in load.code_answers.items()},
        "rt_accepted_max": max(load.rt_accepts.values(), default=0),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f)
    log(f"done: {len(load.requests)} requests, {len(load.ops)} operations, {load.logins_ok} logins")


# ---------------------------------------------------------------------------------
# Checks


def psql(url, sql):
    out = subprocess.run(["psql", url, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()}")
    return [line.split("|") for line in out.stdout.strip().splitlines() if line]


def read_events(path):
    events = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                events[parts[1]] = float(parts[0])
    return events


def in_window(t, windows):
    return any(a <= t <= b for a, b in windows)


def cmd_check(args):
    with open(args.records, encoding="utf-8") as f:
        rec = json.load(f)
    with open(args.setup, encoding="utf-8") as f:
        setup = json.load(f)
    ev = read_events(args.events)
    bound = args.service_bound
    results = []  # (name, passed, detail)

    def check(name, passed, detail=""):
        results.append((name, bool(passed), detail))

    start, end = rec["start"], rec["end"]
    requests, ops, readyz = rec["requests"], rec["ops"], rec["readyz"]
    killed = args.killed_node
    t_kill, t_node_ready = ev.get(f"kill_{killed}"), ev.get(f"ready_{killed}")
    t_pg_stop, t_pg_start, t_pg_ready = ev.get("pg_stop"), ev.get("pg_start"), ev.get("pg_ready")
    w_kill = (t_kill - 0.5, t_node_ready + 3) if t_kill and t_node_ready else None
    w_pg = (t_pg_stop - 0.5, t_pg_ready + bound) if t_pg_stop and t_pg_ready else None
    windows = [w for w in (w_kill, w_pg) if w]
    rel = lambda t: t - start  # noqa: E731

    print()
    print("=" * 78)
    print("SOAK SUMMARY (PostgreSQL, two nodes)")
    print("=" * 78)
    dur = end - start
    print(f"load: {dur:.0f}s, {len(requests)} requests ({len(requests) / dur:.0f}/s), {len(ops)} operations, "
          f"{rec['logins_ok']} TOTP logins ({rec['logins_ok'] / dur:.2f}/s); setup: {setup['enrolled']} "
          f"enrollments in {setup['seconds']}s")
    if t_kill:
        print(f"faults: SIGKILL node {killed} at t+{rel(t_kill):.1f}s, restarted t+{rel(ev[f'start_{killed}']):.1f}s, "
              f"healthy t+{rel(t_node_ready):.1f}s; PostgreSQL stopped t+{rel(t_pg_stop):.1f}s, "
              f"started t+{rel(t_pg_start):.1f}s, accepting t+{rel(t_pg_ready):.1f}s "
              f"(outage {t_pg_ready - t_pg_stop:.1f}s)")

    # Requests per kind and outcome.
    table = collections.defaultdict(collections.Counter)
    for t0, t1, node, kind, outcome in requests:
        table[kind][outcome] += 1
    print("\nrequests by kind and outcome:")
    for kind in sorted(table):
        c = table[kind]
        print(f"  {kind:44s} {sum(c.values()):7d}  " + ", ".join(f"{k}:{v}" for k, v in sorted(c.items())))

    optable = collections.defaultdict(collections.Counter)
    for o in ops:
        optable[o[3]][o[4]] += 1
    print("\noperations by kind and outcome:")
    for kind in sorted(optable):
        c = optable[kind]
        print(f"  {kind:24s} {sum(c.values()):6d}  " + ", ".join(f"{k}:{v}" for k, v in sorted(c.items())))

    # Errors per fault window.
    def window_stats(a, b):
        c = collections.Counter()
        for t0, t1, node, kind, outcome in requests:
            if a <= t1 <= b and not (outcome[0] in "23" or outcome[0] == "4"):
                c[f"{node}:{outcome}"] += 1
        return c

    print("\nfailed requests per window (node:outcome):")
    if w_kill:
        print(f"  node {killed} killed  [t+{rel(w_kill[0]):.0f}s, t+{rel(w_kill[1]):.0f}s]: "
              + (", ".join(f"{k} {v}" for k, v in sorted(window_stats(*w_kill).items())) or "none"))
    if w_pg:
        print(f"  PostgreSQL restart [t+{rel(w_pg[0]):.0f}s, t+{rel(w_pg[1]):.0f}s]: "
              + (", ".join(f"{k} {v}" for k, v in sorted(window_stats(*w_pg).items())) or "none"))
    outside = collections.Counter()
    for t0, t1, node, kind, outcome in requests:
        if not in_window(t1, windows) and not (outcome[0] in "234"):
            outside[f"{node}:{kind}:{outcome}"] += 1
    print("  outside the windows: " + (", ".join(f"{k} {v}" for k, v in sorted(outside.items())) or "none"))

    # 1. Every request answered or failed cleanly within the timeout.
    unclean = [r for r in requests if r[4] not in CLEAN_ERRORS and not r[4][0].isdigit()]
    unclean += [(r[0], r[1], r[2], "GET /readyz", r[3]) for r in readyz if r[3] not in CLEAN_ERRORS and not r[3][0].isdigit()]
    check(f"every request answered or failed cleanly within {rec['timeout']}s", not unclean,
          f"{len(unclean)} not: " + "; ".join(f"t+{rel(r[0]):.1f}s {r[2]} {r[3]} {r[4]}" for r in unclean[:5]))
    latency = sorted(r[1] - r[0] for r in requests)
    if latency:
        print(f"\nlatency: p50 {latency[len(latency) // 2] * 1000:.0f} ms, p99 {latency[int(len(latency) * .99)] * 1000:.0f} ms,"
              f" max {latency[-1]:.2f} s")
    five = collections.Counter(r[4] for r in requests if r[4][0] == "5")
    if five:
        print("5xx answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(five.items())))
    # A database outage is a temporary condition the server knows of: 503, never 500.
    internal = [r for r in requests if r[4] == "500"]
    check("no 500 Internal Server Error (an unreachable database is answered 503)", not internal,
          f"{len(internal)}: " + "; ".join(f"t+{rel(r[0]):.1f}s {r[2]} {r[3]} ({r[1] - r[0]:.1f}s)"
                                            for r in internal[:4]))

    # 2. Failures only inside the fault windows.
    bad_ops = [o for o in ops if o[4] in ("fail_clean", "fail_unclean") and not in_window(o[1], windows)]
    check("no failed operation outside the fault windows", not bad_ops,
          f"{len(bad_ops)}: " + "; ".join(f"t+{rel(o[1]):.1f}s {o[2]} {o[3]} {o[5]}" for o in bad_ops[:5]))
    wrong = [o for o in ops if o[4] == "wrong"]
    wrong_out = [o for o in wrong if not in_window(o[1], windows)]
    check("no wrong answer (a refusal where success was due, or the reverse) outside the fault windows",
          not wrong_out, f"{len(wrong_out)}: " + "; ".join(f"t+{rel(o[1]):.1f}s {o[2]} {o[3]} {o[5]}" for o in wrong_out[:5]))
    if wrong:
        print(f"wrong answers inside fault windows (tolerated, listed): {len(wrong) - len(wrong_out)}")
        for o in [o for o in wrong if o not in wrong_out][:5]:
            print(f"    t+{rel(o[1]):.1f}s {o[2]} {o[3]} {o[5]}")

    # 3. Codes and refresh tokens, from the load generator's records.
    code_viol = [v for v in rec["violations"] if v[1] == "code redeemed twice"]
    twice = sum(1 for v in rec["code_answers"].values() if v.count(200) > 1)
    check("no authorization code redeemed twice (load generator)", not code_viol and twice == 0,
          f"{twice} codes accepted twice")
    rt_viol = [v for v in rec["violations"] if v[1] == "refresh token accepted after rotation"]
    check("no refresh token accepted after its rotation (grace 0)", not rt_viol,
          f"{len(rt_viol)}: " + "; ".join(f"t+{rel(v[0]):.1f}s {v[2]}" for v in rt_viol[:5]))
    revoke_viol = [v for v in rec["violations"] if v[1].startswith("tokens of a twice-redeemed code")
                   or v[1] == "reuse did not revoke the family"]
    check("a reused code or refresh token revokes the tokens of its grant", not revoke_viol,
          f"{len(revoke_viol)}: " + "; ".join(f"t+{rel(v[0]):.1f}s {v[1]}: {v[2]}" for v in revoke_viol[:4]))
    other_viol = [v for v in rec["violations"] if v[1] == "load generator error"]
    check("load generator ran without internal errors", not other_viol, "; ".join(v[2] for v in other_viol[:3]))

    # 4. The database.
    try:
        db = args.psql_url
        n_accounts = int(psql(db, f"select count(*) from accounts where username like '{args.prefix}%'")[0][0])
        n_factors = int(psql(db, "select count(*) from second_factors f join accounts a on a.id = f.account_id "
                                 f"where a.username like '{args.prefix}%' and f.confirmed_at is not null")[0][0])
        n_factor_accounts = int(psql(db, "select count(distinct f.account_id) from second_factors f join accounts a "
                                         f"on a.id = f.account_id where a.username like '{args.prefix}%' "
                                         "and f.confirmed_at is not null")[0][0])
        check("no account lost", n_accounts == args.accounts, f"{n_accounts} accounts, {args.accounts} imported")
        check("no confirmed second factor lost", n_factors == setup["enrolled"] == n_factor_accounts,
              f"{n_factors} confirmed factors on {n_factor_accounts} accounts, {setup['enrolled']} enrolled")
        n_login_audit = int(psql(db, "select count(*) from audit_events where event = 'login.success'")[0][0])
        logins_seen = rec["logins_ok"] + setup["enrolled"]
        check("no audit record lost: login.success rows >= logins seen to succeed", n_login_audit >= logins_seen,
              f"{n_login_audit} rows, {logins_seen} logins completed")
        n_used = int(psql(db, "select count(*) from authorization_codes where used_at is not null")[0][0])
        redeemed = set(rec["redeemed_codes"])
        check("every code redeemed is marked used (authorization_codes.used_at)", n_used >= len(redeemed) + 0,
              f"{n_used} used rows, {len(redeemed)} codes redeemed in the run")
        # Codes seen redeemed: their rows must exist with used_at set (when the hash scheme is Sésame's current one).
        sample = list(redeemed)[:2000]
        found = 0
        if sample:
            values = ",".join(f"('{h}')" for h in sample)
            rows = psql(db, f"select count(*), count(c.used_at) from (values {values}) v(h) "
                            "join authorization_codes c on c.code_hash = v.h")
            found, used = int(rows[0][0]), int(rows[0][1])
            if found:
                check("codes redeemed in the run are in the database, used", found == used == len(sample),
                      f"{found}/{len(sample)} found, {used} used")
            else:
                print("note: code hashes not found in authorization_codes (storage hash changed?): row check skipped")
        live = psql(db, "select grant_id, count(*) from refresh_tokens where rotated_at is null and not revoked "
                        "group by grant_id having count(*) > 1")
        forks = psql(db, "select grant_id, count(*) from refresh_tokens where rotated_at is null "
                         "group by grant_id having count(*) > 1")
        check("database: at most one unrotated refresh token per grant (no code or rotation accepted twice)",
              not forks, f"{len(forks)} grants with several ({len(live)} of them still live)")
        if rec["not_revoked_grants"]:
            # Evidence: the grants of twice-redeemed codes whose first refresh token still worked.
            values = ",".join(f"('{h}')" for h in rec["not_revoked_grants"][:5])
            rows = psql(db, "select v.h, (select count(*) from refresh_tokens r where r.grant_id = v.h), "
                            "(select count(*) from refresh_tokens r where r.grant_id = v.h and r.revoked), "
                            "(select count(*) from revocations x where x.key = 'grant:' || v.h) "
                            f"from (values {values}) v(h)")
            print("\ngrants of twice-redeemed codes whose refresh token was not revoked (code hash, refresh rows,"
                  " revoked rows, grant revocation rows):")
            for row in rows:
                print(f"  {row[0][:16]}…  {row[1]} rows, {row[2]} revoked, {row[3]} grant revocation")
        n_issued = psql(db, "select count(*) from audit_events where event = 'token.issued'")[0][0]
        n_code_reuse = psql(db, "select count(*) from audit_events where event = 'token.code_reuse'")[0][0]
        n_rt_reuse = psql(db, "select count(*) from audit_events where event = 'token.refresh_reuse'")[0][0]
        print(f"\ndatabase: {n_accounts} accounts, {n_factors} confirmed factors, {n_login_audit} login.success, "
              f"{n_issued} token.issued, {n_code_reuse} token.code_reuse, {n_rt_reuse} token.refresh_reuse, "
              f"{n_used} used codes")
    except Exception as e:  # noqa: BLE001
        check("database queries", False, str(e))

    # 5. /readyz during the outage and service back.
    print("\n/readyz and service back after PostgreSQL returned:")
    nodes = sorted({r[2] for r in readyz})
    if w_pg:
        for node in nodes:
            # Polls sent and answered while PostgreSQL was down (from 1 s after the stop).
            during = [r for r in readyz if r[2] == node and r[0] >= t_pg_stop + 1.0 and r[1] <= t_pg_start]
            ok_during = [r for r in during if r[3] == "200"]
            n503 = sum(1 for r in during if r[3] == "503")
            after = [r for r in readyz if r[2] == node and r[0] >= t_pg_ready and r[3] == "200"]
            back = after[0][1] - t_pg_ready if after else None
            slowest = max((r[1] - r[0] for r in during), default=0)
            print(f"  node {node}: during the outage {len(during)} polls: {n503}×503, {len(ok_during)}×200, "
                  f"others {len(during) - n503 - len(ok_during)} (slowest {slowest:.2f}s); 200 again "
                  + (f"{back:.1f}s after PostgreSQL accepted connections" if back is not None else "never"))
            check(f"/readyz on node {node} reports the outage (503) while it lasts", during and n503 >= 1 and not ok_during,
                  f"{n503}×503, {len(ok_during)}×200 of {len(during)} polls")
            check(f"/readyz on node {node} is 200 again within {bound}s", back is not None and back <= bound,
                  f"{back}")
            # Service back: first successful DB-backed token operation and login on the node.
            firsts = {}
            for o in ops:
                if o[4] == "ok" and o[1] >= t_pg_ready and o[2] == node:
                    for label, kinds in (("token", ("redeem", "rotate")), ("login", ("login",))):
                        if o[3] in kinds and label not in firsts:
                            firsts[label] = o[1] - t_pg_ready
            worst = max(firsts.values()) if len(firsts) == 2 else None
            print(f"  node {node}: first code redemption or refresh "
                  + (f"{firsts['token']:.1f}s" if "token" in firsts else "never")
                  + ", first TOTP login " + (f"{firsts['login']:.1f}s" if "login" in firsts else "never")
                  + " after PostgreSQL returned")
            check(f"service back by itself on node {node} within {bound}s of PostgreSQL's return",
                  worst is not None and worst <= bound, f"{worst}")
    else:
        check("PostgreSQL restart happened", False, "no pg_stop/pg_ready events")
    if w_kill:
        firsts = [o[1] - t_node_ready for o in ops if o[4] == "ok" and o[1] >= t_node_ready and o[2] == killed]
        print(f"  node {killed} after SIGKILL: healthy {t_node_ready - ev[f'start_{killed}']:.1f}s after its restart,"
              f" first successful operation {min(firsts):.1f}s after" if firsts else "  no operation after restart")
        check(f"node {killed} serves again after SIGKILL and restart", bool(firsts))

    # Results.
    print("\nchecks:")
    failed = 0
    for name, passed, detail in results:
        print(f"  [{'PASS' if passed else 'FAIL'}] {name}" + (f" — {detail}" if detail and not passed else ""))
        failed += not passed
    with open(args.summary, "w", encoding="utf-8") as f:
        json.dump({"checks": results, "failed": failed}, f)
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------------------------
# SQLite part


def cmd_sqlite_load(args):
    nodes = parse_nodes(args.nodes)
    with open(args.accounts_file, encoding="utf-8") as f:
        accounts = [Account.from_json(d) for d in json.load(f)]
    requests = []
    http_ = Http(nodes, args.timeout, requests)
    node = sorted(nodes)[0]
    counts = collections.Counter()
    lock = threading.Lock()

    def work():
        while not os.path.exists(args.stop_file):
            acct = random.choice(accounts)
            acct = Account(acct.username, acct.password, None, 0, f"10.99.{random.randint(0, 250)}.{random.randint(1, 250)}")
            res = browser_login(http_, acct, lambda: node)
            with lock:
                counts["login " + res.outcome] += 1
            if res.outcome != "ok":
                time.sleep(0.05)
                continue
            r = redeem(http_, node, res.code)
            with lock:
                counts[f"redeem {r.error or r.status}"] += 1
            rt = (r.json() or {}).get("refresh_token") if r.status == 200 else None
            if rt:
                r = rotate(http_, node, rt)
                with lock:
                    counts[f"rotate {r.error or r.status}"] += 1

    threads = [threading.Thread(target=work, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    unclean = [r for r in requests if r[4] not in CLEAN_ERRORS and not r[4][0].isdigit()]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"counts": counts, "requests": len(requests), "unclean": unclean[:20]}, f)
    log("SQLite load: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f"; {len(unclean)} requests neither answered nor failed cleanly")


def cmd_sqlite_check(args):
    """integrity_check of a copy of the database (and its WAL) as the killed node left it."""
    src = args.db
    work = args.db + ".check"
    os.makedirs(work, exist_ok=True)
    try:
        for suffix in ("", "-wal"):
            if os.path.exists(src + suffix):
                shutil.copyfile(src + suffix, os.path.join(work, "copy.db" + suffix))
        con = sqlite3.connect(os.path.join(work, "copy.db"))
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                  for t in ("accounts", "audit_events", "authorization_codes", "refresh_tokens", "sessions")}
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = integrity == ["ok"] and not fk
    wal = os.path.getsize(src + "-wal") if os.path.exists(src + "-wal") else 0
    print(f"integrity_check: {','.join(integrity)[:200]}; foreign_key_check: {len(fk)} problems; "
          f"WAL {wal} bytes; rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if args.accounts is not None and counts["accounts"] < args.accounts:
        print(f"accounts lost: {counts['accounts']} < {args.accounts}")
        ok = False
    sys.exit(0 if ok else 1)


def cmd_login_once(args):
    nodes = parse_nodes(args.nodes)
    with open(args.accounts_file, encoding="utf-8") as f:
        acct = Account.from_json(json.load(f)[0])
    acct.xff = "10.98.0.1"
    http_ = Http(nodes, args.timeout, [])
    node = sorted(nodes)[0]
    res = browser_login(http_, acct, lambda: node)
    if res.outcome != "ok":
        print(f"login failed: {res.outcome} {res.detail}")
        sys.exit(1)
    r = redeem(http_, node, res.code)
    print(f"login and code redemption: {r.error or r.status}")
    sys.exit(0 if r.status == 200 else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("import-file")
    s.add_argument("--accounts", type=int, required=True)
    s.add_argument("--prefix", default="soak")
    s.add_argument("--no-two-factor", dest="two_factor", action="store_false")
    s.add_argument("--out", required=True)
    s.add_argument("--accounts-file", required=True)
    for name in ("setup", "run", "sqlite-load", "login-once"):
        s = sub.add_parser(name)
        s.add_argument("--nodes", required=True, help="A=http://127.0.0.1:PORT,B=…")
        s.add_argument("--accounts-file", required=True)
        s.add_argument("--timeout", type=float, default=10.0)
        s.add_argument("--workers", type=int, default=6)
        if name in ("setup", "run", "sqlite-load"):
            s.add_argument("--out", required=True)
        if name == "run":
            s.add_argument("--duration", type=float, required=True)
            s.add_argument("--think", type=float, default=0.02)
        if name == "sqlite-load":
            s.add_argument("--stop-file", required=True)
    s = sub.add_parser("check")
    for name in ("records", "setup", "events", "psql-url", "summary"):
        s.add_argument("--" + name, required=True)
    s.add_argument("--accounts", type=int, required=True)
    s.add_argument("--prefix", default="soak")
    s.add_argument("--killed-node", default="B")
    s.add_argument("--service-bound", type=float, default=15.0)
    s = sub.add_parser("sqlite-check")
    s.add_argument("--db", required=True)
    s.add_argument("--accounts", type=int)
    args = p.parse_args()
    {"import-file": cmd_import_file, "setup": cmd_setup, "run": cmd_run, "check": cmd_check,
     "sqlite-load": cmd_sqlite_load, "sqlite-check": cmd_sqlite_check, "login-once": cmd_login_once}[args.cmd](args)


if __name__ == "__main__":
    main()
