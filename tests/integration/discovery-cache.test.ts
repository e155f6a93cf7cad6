/**
 * Discovery and the JWKS answered from memory (src/web/discovery-cache.ts, servePublishedKeys):
 * the same answer as the provider's own, the provider still answering what differs by request,
 * the JWKS following the keys, and both counted under their routes.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { JSONWebKeySet } from 'jose';
import { value } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

const DISCOVERY = '/.well-known/openid-configuration';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

/** Status, headers (but the date and the request id) and body of an answer. */
async function answer(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, { headers });
  const { date, 'x-request-id': requestId, ...rest } = Object.fromEntries(res.headers);
  expect({ date, requestId }).toEqual({ date: expect.any(String), requestId: expect.any(String) });
  return { status: res.status, headers: rest, body: await res.text() };
}

/** GET on another Host (fetch cannot set it). */
function onHost(host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(server.url);
    http.get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('discovery from memory', () => {
  test('is the provider\'s own answer: body and headers', async () => {
    const first = await answer(DISCOVERY);
    const again = await answer(DISCOVERY);
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
    expect(JSON.parse(first.body)).toMatchObject({ issuer: server.url, jwks_uri: `${server.url}/jwks`, token_endpoint: `${server.url}/token` });
    expect(first.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*', vary: 'Origin' });
  });

  test('what differs by request still comes from the provider: CORS for an Origin, the URLs of another host', async () => {
    const plain = await answer(DISCOVERY);
    const fromPage = await answer(DISCOVERY, { origin: 'https://layanan.example.id' });
    expect(fromPage.headers['access-control-allow-origin']).toBe('https://layanan.example.id');
    expect(fromPage.body).toBe(plain.body);
    const elsewhere = JSON.parse(await onHost('elsewhere.example:8080', DISCOVERY)) as Record<string, string>;
    expect(elsewhere.token_endpoint).toBe('http://elsewhere.example:8080/token');
    expect(JSON.parse((await answer(DISCOVERY)).body)).toEqual(JSON.parse(plain.body));
  });
});

describe('after a key rotation', () => {
  const kids = async () => ((await (await fetch(`${server.url}/jwks`)).json()) as JSONWebKeySet).keys.map((key) => key.kid!).sort();

  test('the JWKS lists the new keys at once, and discovery (which holds no key) is still the provider\'s answer', async () => {
    const discovery = await answer(DISCOVERY);
    const listed = await kids();
    const rotated = await server.instance.signingKeys.rotate('admin@example.id');
    expect(await kids()).toEqual([...listed, ...rotated.published].sort());
    expect(await answer(DISCOVERY)).toEqual(discovery);
    expect((await answer(DISCOVERY, { origin: 'https://layanan.example.id' })).body).toBe(discovery.body);
  });
});

describe('metrics', () => {
  test('discovery and the JWKS are counted under their routes', async () => {
    const sample = (route: string) => `kediri_http_requests_total{route="${route}",method="GET",status="200"}`;
    const count = async (route: string) => value(await server.instance.metrics.registry.metrics(), sample(route)) ?? 0;
    const before = { discovery: await count(DISCOVERY), jwks: await count('/jwks') };
    for (let i = 0; i < 2; i++) {
      await (await fetch(`${server.url}${DISCOVERY}`)).arrayBuffer();
      await (await fetch(`${server.url}/jwks`)).arrayBuffer();
    }
    expect({ discovery: await count(DISCOVERY), jwks: await count('/jwks') }).toEqual({ discovery: before.discovery + 2, jwks: before.jwks + 2 });
  });
});
