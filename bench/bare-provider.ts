/**
 * A bare oidc-provider for comparison (started by bench/bench.ts as a child process): the default
 * in-memory adapter, opaque access tokens (the default, as ours), RS256 and ES256 signing keys (as
 * ours), refresh tokens rotated on every use and PKCE for every client (as ours). One client with
 * client credentials, the code flow and refresh tokens; the provider's own development login pages
 * (any login, no password, no CSRF token) and a remembered consent, so that a login is the same six
 * requests as ours: what any identity provider built on oidc-provider spends on a login besides
 * checking the password. Prints {"port": N} on standard output.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';

const clientId = process.env.BARE_CLIENT_ID ?? 'bare';
const clientSecret = process.env.BARE_CLIENT_SECRET ?? 'bare-secret-bare-secret-bare-secret';
const redirectUri = process.env.BARE_REDIRECT_URI ?? 'http://127.0.0.1:9/callback';

const keys = [];
for (const [alg, options] of [['RS256', { extractable: true, modulusLength: 2048 }], ['ES256', { extractable: true }]] as const) {
  const { privateKey } = await generateKeyPair(alg, options);
  keys.push({ ...(await exportJWK(privateKey)), alg, use: 'sig', kid: alg.toLowerCase() });
}

const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri], response_types: ['code'],
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'], scope: 'openid offline_access profile email',
  }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: true }, userinfo: { enabled: true } },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  async findAccount(_ctx, sub) {
    return { accountId: sub, claims: async () => ({ sub, name: 'Siti Aminah', email: 'siti@example.id', email_verified: true }) };
  },
  // Consent once per account and client, remembered (as ours): no consent page at a login.
  async loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(oidc.client!.clientId);
    if (grantId) return oidc.provider.Grant.find(grantId);
    const grant = new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId });
    grant.addOIDCScope('openid offline_access profile email');
    await grant.save();
    return grant;
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  cookies: { keys: ['bare-provider-cookie-key-0123456789abcdef'] },
  jwks: { keys },
});
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
