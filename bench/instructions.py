#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: a regression benchmark
that a noisy machine cannot fool (the same binary on the same input executes the same
instructions, whatever else the machine does).

    python3 bench/instructions.py                 # check against bench/instructions-budget.toml
    python3 bench/instructions.py --update        # write the measured counts as the budget
    python3 bench/instructions.py --bin target/release/sesame --budget other.toml
    python3 bench/instructions.py --bin target/release/sesame --profile token
                                                  # where one request's instructions go

For each request type, the real server runs twice under callgrind, started from the
same prepared data directory, with one Tokio worker thread: once serving FEW requests
of that type, once FEW + MANY. The difference of the two totals divided by MANY is the
cost of one request: start, shutdown, first-request warm-up and whatever the scenario
needs beforehand (a login for userinfo) are in both runs and cancel out.

A count more than 10 % over its budget fails, naming the request type and both numbers.
The budget belongs to one build: CI counts target/debug/sesame as `cargo test` built it
(debug code is slower than release, so only the change of a count means something).
The login's password check runs at the smallest Argon2 cost (8 KiB, one pass), so the
"login" figure is everything but the hashing, whose cost `cargo bench --bench crypto`
measures.
"""

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
FEW = 3
# Requests counted per type: enough that one request's cost stands out of the run's
# small background (timers, the database pool's threads).
MANY = {"token": 100, "introspection": 100, "userinfo": 100, "discovery": 300, "jwks": 300, "login": 20}
TOLERANCE = 0.10
SERVICE = ("bench-service", "bench-service-secret-0123456789")
WEB = ("bench-web", "bench-web-secret-0123456789", "https://bench.example/callback")
USER = ("bench", "load test phrase 1")


def basic(client):
    return "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()


class Http:
    """One keep-alive connection, as a load generator uses; cookies for the login."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), data

    def expect(self, status, method, path, body=None, headers=None):
        got, headers_out, data = self.request(method, path, body, headers)
        if got != status:
            raise RuntimeError(f"{method} {path}: {got} instead of {status}: {data[:300]!r}")
        return headers_out, data


def path_of(location):
    parsed = urllib.parse.urlsplit(location)
    return parsed.path + ("?" + parsed.query if parsed.query else "")


def field(page, name):
    match = re.search(rb'name="' + name.encode() + rb'" value="([^"]*)"', page)
    if not match:
        raise RuntimeError(f"no field {name} in the page")
    return match.group(1).decode()


def login(port):
    """A whole browser login: authorization request, login page, password, code redemption."""
    browser = Http(port)
    query = urllib.parse.urlencode(
        {"client_id": WEB[0], "redirect_uri": WEB[2], "response_type": "code", "scope": "openid profile", "state": "s"}
    )
    headers, _ = browser.expect(303, "GET", "/authorize?" + query)
    login_path = path_of(headers["location"])
    _, page = browser.expect(200, "GET", login_path)
    form = {"csrf_token": field(page, "csrf_token"), "tx": field(page, "tx"), "username": USER[0], "password": USER[1]}
    headers, _ = browser.expect(303, "POST", "/login", form)
    location = headers["location"]
    while not location.startswith(WEB[2]):
        headers, _ = browser.expect(303, "GET", path_of(location))
        location = headers["location"]
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    rp = Http(port)
    _, body = rp.expect(
        200,
        "POST",
        "/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": WEB[2]},
        {"Authorization": basic(WEB)},
    )
    return json.loads(body)["access_token"]


def service_token(port):
    _, body = Http(port).expect(
        200, "POST", "/token", {"grant_type": "client_credentials"}, {"Authorization": basic(SERVICE)}
    )
    return json.loads(body)["access_token"]


def scenario(kind, port):
    """What to do before, and one request of the kind (a function of the connection)."""
    if kind == "discovery":
        return lambda c: c.expect(200, "GET", "/.well-known/openid-configuration")
    if kind == "jwks":
        return lambda c: c.expect(200, "GET", "/jwks")
    if kind == "token":
        form = {"grant_type": "client_credentials"}
        return lambda c: c.expect(200, "POST", "/token", form, {"Authorization": basic(SERVICE)})
    if kind == "introspection":
        form = {"token": service_token(port)}
        return lambda c: c.expect(200, "POST", "/introspect", form, {"Authorization": basic(SERVICE)})
    if kind == "userinfo":
        bearer = {"Authorization": "Bearer " + login(port)}
        return lambda c: c.expect(200, "GET", "/userinfo", None, bearer)
    if kind == "login":
        return lambda _c: login(port)
    raise ValueError(kind)


KINDS = ["token", "introspection", "userinfo", "discovery", "jwks", "login"]


def environment(data_dir, port):
    env = dict(os.environ)
    env.pop("SESAME_DATABASE_URL", None)
    env.pop("SESAME_CONFIG", None)
    env.update(
        {
            "SESAME_DATA_DIR": data_dir,
            "SESAME_LISTEN": f"127.0.0.1:{port}",
            "SESAME_ISSUER": f"http://127.0.0.1:{port}",
            "SESAME_DEMO": "false",
            "SESAME_JANITOR__INTERVAL": "0",
            # The change feed is read every 200 ms by default: about 460,000 instructions
            # a second of the debug build's idle time, so each count moved with how long
            # its run took under valgrind (introspection read 341,000 to 389,000 across CI
            # runs). Read every 30 s (the longest interval allowed), a run has one read per
            # 30 s besides the start's; the caches stay on, so requests take the same path.
            "SESAME_CACHES__SYNC_INTERVAL_MS": "30000",
            "SESAME_CACHES__MAX_STALENESS_MS": "60000",
            "SESAME_LOG": "warn",
            "SESAME_PASSWORD__ARGON2_MEMORY_KIB": "8",
            "SESAME_PASSWORD__ARGON2_ITERATIONS": "1",
            "SESAME_PASSWORD__WORKERS": "1",
            "SESAME_RATE_LIMITS__LOGIN_PER_IP_PER_MINUTE": "100000",
            "TOKIO_WORKER_THREADS": "1",
        }
    )
    return env


def prepare(binary, work):
    """A data directory with the bench's clients and account, and the signing keys."""
    data = os.path.join(work, "prepared")
    os.makedirs(data)
    env = environment(data, free_port())
    run = subprocess.run(
        [binary, "import", os.path.join(BENCH, "bench-import.toml")], env=env, capture_output=True, text=True
    )
    if run.returncode != 0:
        sys.exit(f"instructions: the import failed: {run.stdout}{run.stderr}")
    return data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count(binary, prepared, work, kind, requests):
    """Total instructions of one server run that serves `requests` requests of `kind`."""
    data = os.path.join(work, f"{kind}-{requests}")
    shutil.copytree(prepared, data)
    port = free_port()
    out = os.path.join(work, f"callgrind.{kind}.{requests}.out")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no", binary, "serve"],
        env=environment(data, port),
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, f"server.{kind}.{requests}.log"), "w"),
    )
    try:
        wait_until_up(port, server)
        one = scenario(kind, port)
        connection = Http(port)
        for _ in range(requests):
            one(connection)
        connection.conn.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=300)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no total in {out}")


def wait_until_up(port, server):
    deadline = time.time() + 300
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped (exit {server.returncode}) before answering")
        try:
            status, _, _ = Http(port).request("GET", "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not answer under valgrind within 300 s")


def per_request(binary, prepared, work, kind):
    few = count(binary, prepared, work, kind, FEW)
    many = count(binary, prepared, work, kind, FEW + MANY[kind])
    return kind, (many - few) // MANY[kind]


def inclusive(out):
    """Inclusive instructions per function of one callgrind output."""
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
        capture_output=True, text=True, check=True,
    ).stdout
    costs = {}
    for line in annotated.splitlines():
        match = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:\S*?:)?(.+?)(?:\s+\[.*\])?$", line)
        if match and "file:function" not in line:
            name = match.group(2).strip()
            costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


def profile(binary, prepared, work, kind, top):
    """The functions one request of `kind` spends its instructions in, inclusive (a
    function's count holds those of what it calls): the difference of the two runs'
    profiles, per request, largest first."""
    count(binary, prepared, work, kind, FEW)
    count(binary, prepared, work, kind, FEW + MANY[kind])
    few = inclusive(os.path.join(work, f"callgrind.{kind}.{FEW}.out"))
    many = inclusive(os.path.join(work, f"callgrind.{kind}.{FEW + MANY[kind]}.out"))
    per_request = {name: (cost - few.get(name, 0)) / MANY[kind] for name, cost in many.items()}
    ranked = sorted(per_request.items(), key=lambda item: -item[1])
    total = max((cost for _, cost in ranked), default=0) or 1
    print(f"instructions per {kind} request, inclusive, by function ({os.path.relpath(binary, ROOT)})")
    for name, cost in ranked[:top]:
        print(f"  {cost:>12,.0f}  {cost / total * 100:5.1f} %  {name[:150]}")


def read_budget(path):
    budget = {}
    if os.path.exists(path):
        for line in open(path):
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, value = line.partition("=")
                budget[name.strip()] = int(value.strip().replace("_", ""))
    return budget


def write_budget(path, measured, binary):
    with open(path, "w") as f:
        f.write("# Instructions per request (python3 bench/instructions.py --update), counted by\n")
        f.write(f"# callgrind on the debug build (`{os.path.basename(binary)}` as `cargo test` builds it).\n")
        f.write("# CI fails when a count grows more\n")
        f.write(f"# than {int(TOLERANCE * 100)} % over its line: update the budget only for a cost you chose.\n")
        for kind in KINDS:
            f.write(f"{kind} = {measured[kind]:_}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    parser.add_argument("--bin", default=os.path.join(target, "debug", "sesame"))
    parser.add_argument("--budget", default=os.path.join(BENCH, "instructions-budget.toml"))
    parser.add_argument("--update", action="store_true", help="write the measured counts as the budget")
    parser.add_argument("--only", nargs="*", choices=KINDS, help="measure only these request types")
    parser.add_argument("--profile", choices=KINDS, help="print where one request of this type spends")
    parser.add_argument("--top", type=int, default=60, help="functions the profile prints")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions: valgrind is needed (apt-get install valgrind)")
    binary = os.path.abspath(args.bin)
    if not os.path.exists(binary):
        sys.exit(f"instructions: no server binary at {binary} (cargo build, or --bin)")
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="sesame-profile-") as work:
            profile(binary, prepare(binary, work), work, args.profile, args.top)
        return
    kinds = args.only or KINDS
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="sesame-instructions-") as work:
        prepared = prepare(binary, work)
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = dict(pool.map(lambda kind: per_request(binary, prepared, work, kind), kinds))
    budget = read_budget(args.budget)
    failures = []
    print(f"instructions per request ({os.path.relpath(binary, ROOT)}, {time.time() - started:.0f} s)")
    for kind in kinds:
        measured, allowed = results[kind], budget.get(kind)
        if allowed is None:
            print(f"  {kind:<14} {measured:>14,}   (no budget)")
            continue
        change = (measured - allowed) / allowed * 100
        print(f"  {kind:<14} {measured:>14,}   budget {allowed:>14,}   {change:+6.1f} %")
        if measured > allowed * (1 + TOLERANCE):
            failures.append(f"{kind}: {measured:,} instructions per request, over its budget of {allowed:,} (+{change:.1f} %)")
    if args.update:
        write_budget(args.budget, {**budget, **results}, binary)
        print(f"wrote {os.path.relpath(args.budget, ROOT)}")
        return
    missing = [kind for kind in kinds if kind not in budget]
    for failure in failures:
        print(f"instruction budget exceeded: {failure}", file=sys.stderr)
    if missing:
        print(f"instruction budget missing for: {', '.join(missing)} (run with --update)", file=sys.stderr)
    if failures or missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
