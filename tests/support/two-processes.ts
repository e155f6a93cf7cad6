import { expect } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config.js';
import { newSecret } from '../../src/secrets.js';
import { createServices } from '../../src/services.js';
import type { TestDb } from './db.js';
import { TEST_ENV } from './env.js';
import { SITI, createCitizen, createWebClient } from './fixtures.js';
import { freePort, startServe } from './process.js';
import { relyingParty, signInAndExchange } from './rp.js';

export interface TwoProcesses {
  /** The proxy's URL, the issuer of both processes. */
  issuer: string;
  dataDir: string;
  encryptionKey: string;
  /** One line per request the proxy passed on: "PORT METHOD URL". */
  served: string[];
  stop(): Promise<void>;
}

/**
 * Two `kediri-id serve` processes on the PostgreSQL database of env.DATABASE_URL behind a
 * round-robin proxy (no sticky sessions): every request of a flow may land on either process.
 * Both start at once, so that first keys are made exactly once.
 */
export async function startTwoProcesses(env: Record<string, string>): Promise<TwoProcesses> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kediri-scale-'));
  const encryptionKey = newSecret();
  const served: string[] = [];
  const ports = [await freePort(), await freePort()];
  let turn = 0;
  const proxy = http.createServer((req, res) => {
    const port = ports[turn++ % ports.length]!;
    served.push(`${port} ${req.method} ${req.url}`);
    const upstream = http.request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const shared = { ENCRYPTION_KEY: encryptionKey, ISSUER: issuer, DATA_DIR: dataDir, ...TEST_ENV, ...env };
  const servers = await Promise.allSettled(ports.map((port) => startServe({ ...shared, PORT: String(port) })));
  const stop = async () => {
    await Promise.all(servers.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    proxy.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  const failed = servers.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { issuer, dataDir, encryptionKey, served, stop };
}

/**
 * Siti signs in through the proxy with openid-client (code, userinfo, refresh): the interaction's
 * pages are served by both processes. The citizen and client are made on testDb, the processes' database.
 */
export async function expectFlowAcrossProcesses(processes: TwoProcesses, testDb: TestDb): Promise<void> {
  const config = loadConfig({ DATABASE_URL: testDb.url!, DATA_DIR: processes.dataDir, ENCRYPTION_KEY: processes.encryptionKey });
  const services = await createServices(config, testDb.db);
  await createCitizen(services);
  const { clientId, clientSecret } = await createWebClient(services);

  const rp = await relyingParty(processes.issuer, clientId, clientSecret);
  const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile offline_access', prompt: 'consent' });
  expect(tokens.claims()!.name).toBeUndefined();
  const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
  expect(userinfo.name).toBe(SITI.name);
  const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
  expect(refreshed.access_token).toBeTruthy();

  // The interaction pages were served by both processes.
  const interactionPorts = new Set(processes.served.filter((line) => line.includes('/interaction/')).map((line) => line.split(' ')[0]));
  expect(interactionPorts.size).toBe(2);
}
