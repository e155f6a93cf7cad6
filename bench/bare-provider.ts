/**
 * A bare oidc-provider for comparison (started by bench/bench.ts as a child process): the default
 * in-memory adapter, one client with client credentials, opaque access tokens (the default, as
 * ours), RS256 and ES256 signing keys (as ours). Prints {"port": N} on standard output.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const clientId = process.env.BARE_CLIENT_ID ?? 'bare';
const clientSecret = process.env.BARE_CLIENT_SECRET ?? 'bare-secret-bare-secret-bare-secret';

const keys = [];
for (const [alg, options] of [['RS256', { extractable: true, modulusLength: 2048 }], ['ES256', { extractable: true }]] as const) {
  const { privateKey } = await generateKeyPair(alg, options);
  keys.push({ ...(await exportJWK(privateKey)), alg, use: 'sig', kid: alg.toLowerCase() });
}

const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: clientId, client_secret: clientSecret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  cookies: { keys: ['bare-provider-cookie-key-0123456789abcdef'] },
  jwks: { keys },
});
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
