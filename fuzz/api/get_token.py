#!/usr/bin/env python3
"""Obtains an administrator's access token from a running Sésame, over plain HTTP.

It plays the authorization-code flow as a script would (standard library only, no
redirect followed automatically): GET /authorize (PKCE S256) -> 303 to /login?tx=… ->
GET the login page, take its hidden `csrf_token` and `tx` -> POST /login with the
username and password -> 303 to the client's redirect URI with ?code=… -> POST /token
with HTTP Basic client authentication. Prints the access token on stdout, nothing else.

Usage: get_token.py ISSUER   (settings below may be overridden by environment variables)
"""

import base64
import hashlib
import html.parser
import http.cookiejar
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

CLIENT_ID = os.environ.get("ADMIN_CLIENT_ID", "admin-tool")
CLIENT_SECRET = os.environ.get("ADMIN_CLIENT_SECRET", "admin-tool-secret-0123456789")
REDIRECT_URI = os.environ.get("ADMIN_REDIRECT_URI", "https://admin.example/callback")
USERNAME = os.environ.get("ADMIN_USERNAME", "sonia")
PASSWORD = os.environ.get("ADMIN_PASSWORD", "orange tulip garden")
SCOPE = "openid sesame:admin"


def fail(message):
    print(f"get_token.py: {message}", file=sys.stderr)
    sys.exit(1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 30x reaches the caller as an HTTPError


class HiddenInputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.values = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.values.setdefault(attrs["name"], attrs.get("value") or "")


def request(opener, url, data=None, headers=None):
    """Returns (status, headers, body) without following redirects."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def expect_redirect(step, status, headers, body):
    if status not in (302, 303) or not headers.get("Location"):
        fail(f"{step}: expected a 303 redirect, got {status}: {body[:500]}")
    return headers["Location"]


def main():
    if len(sys.argv) != 2:
        fail("usage: get_token.py ISSUER (e.g. http://127.0.0.1:8080)")
    issuer = sys.argv[1].rstrip("/")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })

    # 1. /authorize sends the browser to the login page.
    location = expect_redirect("GET /authorize", *request(opener, f"{issuer}/authorize?{query}"))
    login_url = urllib.parse.urljoin(issuer + "/", location)

    # 2. The login page carries the anti-CSRF token and the transaction id.
    status, _, page = request(opener, login_url)
    if status != 200:
        fail(f"GET {login_url}: {status}: {page[:500]}")
    inputs = HiddenInputs()
    inputs.feed(page)
    tx = inputs.values.get("tx") or urllib.parse.parse_qs(urllib.parse.urlsplit(login_url).query).get("tx", [""])[0]
    csrf = inputs.values.get("csrf_token")
    if not csrf or not tx:
        fail(f"the login page has no csrf_token or tx input: {page[:500]}")

    # 3. The password; the answer goes back to the client with a code.
    form = {"csrf_token": csrf, "tx": tx, "username": USERNAME, "password": PASSWORD}
    location = expect_redirect("POST /login", *request(opener, f"{issuer}/login", data=form))
    callback = urllib.parse.urlsplit(urllib.parse.urljoin(issuer + "/", location))
    params = urllib.parse.parse_qs(callback.query)
    if not location.startswith(REDIRECT_URI):
        fail(f"POST /login did not come back to {REDIRECT_URI} (a second factor or consent asked?): {location}")
    if "code" not in params:
        fail(f"no code in the redirect: {location}")
    if params.get("state", [""])[0] != state:
        fail(f"the state came back changed: {location}")

    # 4. The code for tokens, with the client's secret in HTTP Basic.
    basic = base64.b64encode(
        f"{urllib.parse.quote(CLIENT_ID, safe='')}:{urllib.parse.quote(CLIENT_SECRET, safe='')}".encode()
    ).decode()
    form = {
        "grant_type": "authorization_code",
        "code": params["code"][0],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    status, _, body = request(opener, f"{issuer}/token", data=form, headers={"Authorization": f"Basic {basic}"})
    if status != 200:
        fail(f"POST /token: {status}: {body[:500]}")
    tokens = json.loads(body)
    if "sesame:admin" not in tokens.get("scope", SCOPE).split():
        fail(f"the token was not granted sesame:admin: scope {tokens.get('scope')!r}")
    print(tokens["access_token"])


if __name__ == "__main__":
    main()
