// An office application on panva's openid-client (OpenID-certified RP library), as a
// Node developer would write it: authorization code with PKCE, ID token and userinfo,
// refresh, RP-initiated logout, and back-channel logout (validated with jose, which
// openid-client is built on). Sessions are kept in memory, keyed by a cookie.
//
// Environment: SESAME_ISSUER (Sésame's issuer URL), RP_PORT (port on 127.0.0.1),
// CLIENT_ID, CLIENT_SECRET. Pages: / (the protected page, JSON: the ID token's claims,
// userinfo), /callback, /refresh, /logout, /logged-out, /backchannel-logout (POST),
// /status (what the back channel received).
//
// Driven by Sésame's tests (tests/it/interop.rs); `node rp.mjs` runs it by hand.

import http from 'node:http';
import crypto from 'node:crypto';
import * as client from 'openid-client';
import * as jose from 'jose';

const issuer = new URL(required('SESAME_ISSUER'));
const port = Number(required('RP_PORT'));
const clientId = required('CLIENT_ID');
const clientSecret = required('CLIENT_SECRET');
const base = `http://127.0.0.1:${port}`;
const redirectUri = `${base}/callback`;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return value;
}

// Discovery. `allowInsecureRequests`: the test's issuer is http on loopback; an
// office's Sésame is https and needs no such line.
const config = await client.discovery(issuer, clientId, clientSecret, client.ClientSecretPost(clientSecret), {
  execute: [client.allowInsecureRequests],
});
const metadata = config.serverMetadata();
const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));

const sessions = new Map(); // cookie value -> { login?, tokens?, claims?, userinfo?, refreshed }
const backchannel = { received: [], jtis: new Set() };

function session(request, response) {
  const cookie = /(?:^|;\s*)rp_session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
  if (cookie && sessions.has(cookie)) return sessions.get(cookie);
  const id = crypto.randomBytes(24).toString('base64url');
  const fresh = { id, refreshed: 0 };
  sessions.set(id, fresh);
  response.setHeader('Set-Cookie', `rp_session=${id}; Path=/; HttpOnly; SameSite=Lax`);
  return fresh;
}

function send(response, status, body, type = 'application/json') {
  response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  response.end(type === 'application/json' ? JSON.stringify(body, null, 2) : body);
}

function redirect(response, location) {
  response.writeHead(302, { Location: location, 'Cache-Control': 'no-store' });
  response.end();
}

async function readForm(request) {
  let body = '';
  for await (const chunk of request) body += chunk;
  return new URLSearchParams(body);
}

async function startLogin(state, response) {
  const codeVerifier = client.randomPKCECodeVerifier();
  state.login = { codeVerifier, state: client.randomState(), nonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state: state.login.state,
    nonce: state.login.nonce,
  });
  redirect(response, url.href);
}

async function keep(state, tokens) {
  state.tokens = tokens;
  state.claims = tokens.claims() ?? state.claims;
  state.userinfo = await client.fetchUserInfo(config, tokens.access_token, state.claims.sub);
}

// OpenID Connect Back-Channel Logout 1.0, section 2.6: validate the logout token, then
// end the sessions it names.
async function backchannelLogout(request, response) {
  const token = (await readForm(request)).get('logout_token');
  try {
    if (!token) throw new Error('no logout_token');
    const { payload } = await jose.jwtVerify(token, jwks, {
      issuer: metadata.issuer,
      audience: clientId,
      typ: 'logout+jwt',
      requiredClaims: ['iat', 'jti'],
      maxTokenAge: '5 minutes',
    });
    if (!payload.events?.['http://schemas.openid.net/event/backchannel-logout']) throw new Error('no logout event');
    if ('nonce' in payload) throw new Error('a nonce in a logout token');
    if (!payload.sid && !payload.sub) throw new Error('neither sid nor sub');
    if (backchannel.jtis.has(payload.jti)) throw new Error('logout token replayed');
    backchannel.jtis.add(payload.jti);
    let ended = 0;
    for (const [id, state] of sessions) {
      const claims = state.claims;
      if (claims && (payload.sid ? claims.sid === payload.sid : claims.sub === payload.sub)) {
        sessions.delete(id);
        ended += 1;
      }
    }
    backchannel.received.push({ sid: payload.sid, sub: payload.sub, ended });
    send(response, 200, { ended });
  } catch (error) {
    backchannel.received.push({ error: String(error.message ?? error) });
    send(response, 400, { error: 'invalid_request', error_description: String(error.message ?? error) });
  }
}

async function handle(request, response) {
  const url = new URL(request.url, base);
  if (url.pathname === '/backchannel-logout' && request.method === 'POST') return backchannelLogout(request, response);
  if (url.pathname === '/status') return send(response, 200, { sessions: sessions.size, backchannel: backchannel.received });
  if (url.pathname === '/logged-out') return send(response, 200, `logged out, state=${url.searchParams.get('state')}`, 'text/plain');

  const state = session(request, response);
  switch (url.pathname) {
    case '/': {
      if (!state.tokens) return startLogin(state, response);
      return send(response, 200, {
        claims: state.claims,
        userinfo: state.userinfo,
        refreshed: state.refreshed,
        // Which access token the application holds, without showing it.
        access_token: crypto.createHash('sha256').update(state.tokens.access_token).digest('hex').slice(0, 16),
      });
    }
    case '/callback': {
      if (!state.login) return send(response, 400, { error: 'no login in progress' });
      const { codeVerifier, nonce, state: expectedState } = state.login;
      delete state.login;
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: codeVerifier,
        expectedNonce: nonce,
        expectedState,
        idTokenExpected: true,
      });
      await keep(state, tokens);
      return redirect(response, '/');
    }
    case '/refresh': {
      if (!state.tokens?.refresh_token) return send(response, 400, { error: 'no refresh token' });
      const tokens = await client.refreshTokenGrant(config, state.tokens.refresh_token);
      await keep(state, tokens);
      state.refreshed += 1;
      return redirect(response, '/');
    }
    case '/logout': {
      const idToken = state.tokens?.id_token;
      sessions.delete(state.id);
      const end = client.buildEndSessionUrl(config, {
        ...(idToken ? { id_token_hint: idToken } : {}),
        post_logout_redirect_uri: `${base}/logged-out`,
        state: 'bye',
      });
      return redirect(response, end.href);
    }
    default:
      return send(response, 404, { error: 'not found' });
  }
}

http
  .createServer((request, response) => {
    handle(request, response).catch((error) => {
      console.error(error);
      send(response, 500, { error: error.name, message: error.message, code: error.code, cause: String(error.cause ?? '') });
    });
  })
  .listen(port, '127.0.0.1', () => console.log(`openid-client ${base} -> ${issuer.href}`));
