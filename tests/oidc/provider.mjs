// A real OpenID provider for the identity tests: panva's oidc-provider (OpenID Certified),
// on loopback, configured for the broker's tests. Started once per test run by
// tests/oidc/provider.py, with the oidc-provider package from the node_modules of
// .ci/install.d/35-oidc-provider.sh (OIDC_NODE_MODULES).
//
// Environment: OIDC_NODE_MODULES (the node_modules folder holding oidc-provider), OIDC_KEYS (path of a private JWKS file written by the fixture; read again
// on rotation), OIDC_PORT (0: any free port). Prints "READY <port>" once listening.
//
// Clients: "broker-cli" (authorization code with PKCE, client credentials),
// "ivoa-broker" (the broker itself: client credentials, introspection of any token) and
// "broker-web" (the broker's sign-in page: authorization code with PKCE, redirected to
// http://127.0.0.1:<any port>/login/callback).
// Users: alice (astro), bob (no group), carol (astro, admins): groups in the "groups"
// claim of their access tokens. Resource servers (RFC 8707 resource indicators):
// urn:ivoa-broker (JWT access tokens, RS256), urn:ivoa-broker:opaque (opaque tokens, for
// introspection), urn:other-service (JWT, another audience).
// Control: POST /_control/rotate re-reads OIDC_KEYS (the fixture put a new key first)
// and swaps in a provider with that key set, same issuer and same token storage.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// ES modules ignore NODE_PATH: load the package from the folder the fixture names
const packageDir = path.join(process.env.OIDC_NODE_MODULES, 'oidc-provider');
const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
const { default: Provider } = await import(
  pathToFileURL(path.join(packageDir, manifest.main || 'lib/index.js')).href
);

const USERS = {
  alice: ['astro'],
  bob: [],
  carol: ['astro', 'admins'],
};
const CLIENT_GROUPS = { 'broker-cli': [], 'ivoa-broker': [], 'broker-web': [] };
const RESOURCES = {
  'urn:ivoa-broker': { format: 'jwt', audience: 'urn:ivoa-broker' },
  'urn:ivoa-broker:opaque': { format: 'opaque', audience: 'urn:ivoa-broker' },
  'urn:other-service': { format: 'jwt', audience: 'urn:other-service' },
};
const REDIRECT = 'http://127.0.0.1/callback';
const WEB_REDIRECT = 'http://127.0.0.1/login/callback';

function configuration() {
  const jwks = JSON.parse(fs.readFileSync(process.env.OIDC_KEYS, 'utf8'));
  return {
    jwks,
    clients: [
      {
        client_id: 'broker-cli',
        client_secret: 'broker-cli-secret-0123456789',
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        // the broker's pages ("sign in with"): a loopback redirect on any port (RFC 8252
        // section 7.3, oidc-provider allows that for native clients)
        client_id: 'broker-web',
        client_secret: 'broker-web-secret-0123456789',
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [WEB_REDIRECT],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'ivoa-broker',
        client_secret: 'ivoa-broker-secret-0123456789',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    cookies: { keys: ['provider-test-cookie-key-0123456789'] },
    async findAccount(ctx, id) {
      if (!(id in USERS)) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, preferred_username: id, groups: USERS[id] };
        },
      };
    },
    async extraTokenClaims(ctx, token) {
      if (token.accountId) return { groups: USERS[token.accountId] ?? [] };
      return { groups: CLIENT_GROUPS[token.clientId] ?? [] };
    },
    scopes: ['openid', 'jobs'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // the broker introspects tokens issued to any client
        async allowedPolicy(ctx, client, token) {
          return client.clientId === 'ivoa-broker' || client.clientId === token.clientId;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:ivoa-broker',
        useGrantedResource: () => true,
        async getResourceServerInfo(ctx, resource) {
          const info = RESOURCES[resource];
          if (!info) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'jobs',
            audience: info.audience,
            accessTokenTTL: 600,
            accessTokenFormat: info.format,
            ...(info.format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          };
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, ClientCredentials: 600 },
  };
}

let provider;
let handler;

function build(issuer) {
  provider = new Provider(issuer, configuration());
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  handler = provider.callback();
}

// The scripted login and consent: the user named by login_hint signs in at once and
// grants what was asked for (the test drives the redirects like a browser).
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const account = params.login_hint;
    if (!(account in USERS)) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`unknown user ${account}`);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: account } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'POST' && path === '/_control/rotate') {
    build(provider.issuer);
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'GET' && path.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction failed', err);
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
    return;
  }
  handler(req, res);
});

server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  build(`http://127.0.0.1:${port}`);
  console.log(`READY ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
