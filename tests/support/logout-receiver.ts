import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import { jwtVerify, type createRemoteJWKSet } from 'jose';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A relying party's back-channel logout endpoint: records each logout token, answers with the next planned status (200 after). */
export async function logoutReceiver(host = '127.0.0.1') {
  const tokens: string[] = [];
  const planned: number[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      tokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(planned.shift() ?? 200).end();
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://${host.includes(':') ? `[${host}]` : host}:${port}/backchannel-logout`,
    tokens,
    planned,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
export type LogoutReceiver = Awaited<ReturnType<typeof logoutReceiver>>;

/** Verifies a logout token as a relying party must (OpenID Back-Channel Logout 1.0 §2.6) and returns its claims. */
export async function verifyLogoutToken(token: string, { issuer, clientId, jwks }: { issuer: string; clientId: string; jwks: ReturnType<typeof createRemoteJWKSet> }) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: '2 minutes' });
  expect(protectedHeader.kid).toBeTruthy();
  expect(payload.events).toEqual({ [LOGOUT_EVENT]: {} });
  expect(payload.nonce).toBeUndefined();
  expect(payload.jti).toBeTruthy();
  expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
  return payload;
}
