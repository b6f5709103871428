// The reference provider for bench/compare.sh: oidc-provider configured like Sésame's
// bench set-up (bench/bench-import.toml): the same confidential client with HTTP Basic
// authentication, the client_credentials grant, introspection, and — with FORMAT=jwt —
// access tokens signed ES256 as Sésame signs them. FORMAT=opaque keeps tokens in memory
// unsigned (oidc-provider cannot introspect its JWT access tokens).
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 18282);
const issuer = `http://127.0.0.1:${port}`;
const format = process.env.FORMAT || 'jwt';

const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  jwks: { keys: [{ ...rsa, kid: 'bench-rs256', alg: 'RS256', use: 'sig' }, { ...ec, kid: 'bench-es256', alg: 'ES256', use: 'sig' }] },
  clients: [{
    client_id: 'bench-service',
    client_secret: 'bench-service-secret-0123456789',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'bench.api',
  }],
  scopes: ['openid', 'bench.api'],
  ttl: { ClientCredentials: 600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'bench.api',
        accessTokenTTL: 600,
        accessTokenFormat: format,
        ...(format === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
      }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider (${format} access tokens) at ${issuer}`));
