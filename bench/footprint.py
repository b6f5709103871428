#!/usr/bin/env python3
"""The server's footprint, three figures: start-to-first-answer, idle resident memory,
and resident memory after a burst of 50 parallel logins (wrong passwords, each an Argon2
check at the configured cost) and a minute of quiet.

    python3 bench/footprint.py [--binary target/release/sesame] [--quiet-seconds 60]

Standard library only. A fresh data directory on SQLite, the bench accounts imported;
the release binary unless --binary says otherwise (build it first: cargo build --release).
Prints the figures; exits 1 when one is over the goal (100 ms, 30 MB, 40 MB).
"""

import argparse
import http.client
import http.cookiejar
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GOALS = {"start_ms": 100, "idle_mb": 30, "after_burst_mb": 40}


def memory_mb(pid, field):
    """A memory figure of /proc/PID/status in MB: VmRSS (resident now), VmHWM (peak)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def answers(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/.well-known/openid-configuration")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wrong_password_login(issuer, index, outcomes):
    """A browser: the authorization request, the login page, a wrong password."""
    jar = http.cookiejar.CookieJar()
    follow = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    stay = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    query = urllib.parse.urlencode({
        "client_id": "bench-web", "redirect_uri": "https://bench.example/callback",
        "response_type": "code", "scope": "openid", "state": f"s{index}",
    })
    try:
        page = follow.open(f"{issuer}/authorize?{query}", timeout=60).read().decode()
        fields = dict(re.findall(r'name="(csrf_token|tx)" value="([^"]*)"', page))
        form = urllib.parse.urlencode({**fields, "username": "bench", "password": f"wrong {index}"}).encode()
        try:
            stay.open(f"{issuer}/login", data=form, timeout=60).read()
        except urllib.error.HTTPError as answer:
            if answer.code >= 500 and answer.code != 503:
                raise
        outcomes.append(True)
    except Exception as error:  # noqa: BLE001 - reported, counted
        outcomes.append(error)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "sesame"))
    parser.add_argument("--port", type=int, default=18195)
    parser.add_argument("--quiet-seconds", type=int, default=60)
    parser.add_argument("--logins", type=int, default=50)
    args = parser.parse_args()
    issuer = f"http://127.0.0.1:{args.port}"
    work = tempfile.mkdtemp(prefix="sesame-footprint-")
    env = dict(os.environ, SESAME_DATA_DIR=work, SESAME_ISSUER=issuer, SESAME_LISTEN=f"127.0.0.1:{args.port}",
               SESAME_DEMO="false", SESAME_LOG="warn", SESAME_JANITOR__INTERVAL="0",
               SESAME_RATE_LIMITS__LOGIN_PER_IP_PER_MINUTE="100000")
    subprocess.run([args.binary, "import", os.path.join(HERE, "bench-import.toml")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    started = time.monotonic()
    server = subprocess.Popen([args.binary, "serve"], env=env, stdout=subprocess.DEVNULL)
    try:
        while not answers(args.port):
            if server.poll() is not None:
                raise SystemExit("the server stopped")
            time.sleep(0.002)
        start_ms = (time.monotonic() - started) * 1000
        time.sleep(5)
        idle_mb = memory_mb(server.pid, "VmRSS")
        outcomes = []
        threads = [threading.Thread(target=wrong_password_login, args=(issuer, i, outcomes))
                   for i in range(args.logins)]
        burst = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        burst_s = time.monotonic() - burst
        during_mb = memory_mb(server.pid, "VmHWM")
        failed = [o for o in outcomes if o is not True]
        time.sleep(args.quiet_seconds)
        after_mb = memory_mb(server.pid, "VmRSS")
    finally:
        server.terminate()
        server.wait()
    print(f"start to first answer (discovery): {start_ms:.0f} ms   (goal < {GOALS['start_ms']} ms)")
    print(f"idle, 5 s after start:             {idle_mb:.1f} MB resident   (goal < {GOALS['idle_mb']} MB)")
    print(f"{args.logins} parallel logins, wrong password: {burst_s:.2f} s, peak {during_mb:.1f} MB"
          + (f", {len(failed)} failed: {failed[:3]}" if failed else ""))
    print(f"{args.quiet_seconds} s later:                        {after_mb:.1f} MB resident   "
          f"(goal < {GOALS['after_burst_mb']} MB)")
    over = start_ms >= GOALS["start_ms"] or idle_mb >= GOALS["idle_mb"] or after_mb >= GOALS["after_burst_mb"]
    raise SystemExit(1 if over or failed else 0)


if __name__ == "__main__":
    main()
