"""An office application on Authlib's Flask client, as a Python developer would write it.

Authorization code with PKCE, the ID token checked by Authlib, userinfo, refresh (Authlib
refreshes an expired access token by itself before a call), RP-initiated logout
(Authlib's logout_redirect) and back-channel logout (the logout token checked with the
JOSE layer Authlib uses, joserfc, against Sésame's JWKS as Authlib fetched it).

Environment: SESAME_ISSUER, RP_PORT (port on 127.0.0.1), CLIENT_ID, CLIENT_SECRET.
Pages: / (protected, JSON: the ID token's claims and userinfo), /callback, /refresh,
/logout, /logged-out, /backchannel-logout (POST), /status.

Driven by Sésame's tests (tests/it/interop.rs); `python app.py` runs it by hand.
"""

import hashlib
import os
import secrets
import time

from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, redirect, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ISSUER = os.environ["SESAME_ISSUER"]
PORT = int(os.environ["RP_PORT"])
BASE = f"http://127.0.0.1:{PORT}"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

app = Flask(__name__)
app.secret_key = secrets.token_bytes(32)
app.config["SESSION_COOKIE_NAME"] = "rp_session"

# Tokens stay on the server (a signed cookie would be too small for them); the cookie
# holds a key. A real deployment would use Redis or a database, the same way.
TOKENS = {}
# What the back channel did: the sids Sésame said have ended, and each delivery.
ENDED_SIDS = set()
SEEN_JTIS = set()
BACKCHANNEL = []


def fetch_token():
    entry = TOKENS.get(session.get("key"))
    return entry and entry["token"]


def update_token(token, refresh_token=None, access_token=None):
    """Authlib calls this after it refreshed the token by itself."""
    entry = TOKENS.get(session.get("key"))
    if entry is not None:
        entry["token"] = token
        entry["refreshes"] += 1


oauth = OAuth(app)
oauth.register(
    "sesame",
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ["CLIENT_SECRET"],
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    fetch_token=fetch_token,
    update_token=update_token,
    client_kwargs={
        "scope": "openid profile email",
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_basic",
    },
)


def fingerprint(token):
    return hashlib.sha256(token["access_token"].encode()).hexdigest()[:16]


def signed_in():
    entry = TOKENS.get(session.get("key"))
    if entry and entry["claims"].get("sid") in ENDED_SIDS:
        TOKENS.pop(session.pop("key"), None)
        return None
    return entry


@app.get("/")
def protected():
    entry = signed_in()
    if entry is None:
        return oauth.sesame.authorize_redirect(f"{BASE}/callback")
    userinfo = oauth.sesame.userinfo()  # refreshes the access token first if it expired
    return jsonify(
        claims=entry["claims"],
        userinfo=dict(userinfo),
        refreshed=entry["refreshes"],
        access_token=fingerprint(entry["token"]),
    )


@app.get("/callback")
def callback():
    token = oauth.sesame.authorize_access_token()  # checks state, PKCE, the ID token and nonce
    key = secrets.token_urlsafe(24)
    claims = dict(token.pop("userinfo"))
    TOKENS[key] = {"token": token, "claims": claims, "refreshes": 0}
    session["key"] = key
    return redirect("/")


@app.get("/refresh")
def refresh():
    """The access token lives 10 minutes: rather than wait, the test marks it expired, and
    Authlib refreshes it as it would then, before the next call."""
    entry = signed_in()
    if entry is None:
        return jsonify(error="not signed in"), 401
    entry["token"]["expires_at"] = int(time.time()) - 1
    oauth.sesame.userinfo()
    return redirect("/")


@app.get("/logout")
def logout():
    entry = TOKENS.pop(session.pop("key", None), None)
    id_token = entry and entry["token"].get("id_token")
    return oauth.sesame.logout_redirect(f"{BASE}/logged-out", id_token_hint=id_token)


@app.get("/logged-out")
def logged_out():
    oauth.sesame.validate_logout_response()  # the state it sent comes back
    return "logged out\n", 200, {"Content-Type": "text/plain"}


@app.post("/backchannel-logout")
def backchannel_logout():
    """OpenID Connect Back-Channel Logout 1.0, section 2.6."""
    try:
        metadata = oauth.sesame.load_server_metadata()
        keys = KeySet.import_key_set(oauth.sesame.fetch_jwk_set())
        token = jwt.decode(request.form["logout_token"], keys)
        if token.header.get("typ") != "logout+jwt":
            raise ValueError("typ is not logout+jwt")
        claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": oauth.sesame.client_id},
            iat={"essential": True},
            jti={"essential": True},
            events={"essential": True},
        )
        claims.validate(token.claims)
        payload = token.claims
        if LOGOUT_EVENT not in payload["events"]:
            raise ValueError("no logout event")
        if "nonce" in payload:
            raise ValueError("a nonce in a logout token")
        if not payload.get("sid"):
            raise ValueError("no sid")
        if payload["jti"] in SEEN_JTIS:
            raise ValueError("logout token replayed")
        SEEN_JTIS.add(payload["jti"])
    except (KeyError, ValueError, JoseError) as error:
        BACKCHANNEL.append({"error": str(error)})
        return jsonify(error="invalid_request", error_description=str(error)), 400
    ENDED_SIDS.add(payload["sid"])
    ended = [key for key, entry in TOKENS.items() if entry["claims"].get("sid") == payload["sid"]]
    for key in ended:
        del TOKENS[key]
    BACKCHANNEL.append({"sid": payload["sid"], "sub": payload.get("sub"), "ended": len(ended)})
    return "", 200, {"Cache-Control": "no-store"}


@app.get("/status")
def status():
    return jsonify(sessions=len(TOKENS), backchannel=BACKCHANNEL)


if __name__ == "__main__":
    print(f"authlib {BASE} -> {ISSUER}", flush=True)
    app.run(host="127.0.0.1", port=PORT, threaded=True)
