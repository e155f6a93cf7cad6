import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config.js';
import { newSecret } from '../../src/secrets.js';
import { createServices } from '../../src/services.js';
import { TEST_ENV } from '../support/env.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { freePort, startServe } from '../support/process.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { Agent, csrfTokenOf } from '../support/agent.js';

/**
 * Two server processes on one PostgreSQL database behind a round-robin proxy (no sticky
 * sessions): every request of a flow may land on either process. PostgreSQL only, since the
 * embedded database belongs to one process by design.
 */
const describeOnPostgres = process.env.DATABASE_URL ? describe : describe.skip;

describeOnPostgres('two processes on one PostgreSQL database', () => {
  let testDb: TestDb;
  let proxy: http.Server;
  let issuer: string;
  let dataDir: string;
  const servers: Array<{ stop(): Promise<void> }> = [];
  const served: string[] = [];
  const encryptionKey = newSecret();

  beforeAll(async () => {
    testDb = await createTestDb();
    dataDir = await mkdtemp(join(tmpdir(), 'kediri-scale-'));
    const ports = [await freePort(), await freePort()];
    let turn = 0;
    proxy = http.createServer((req, res) => {
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
    issuer = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const shared = {
      DATABASE_URL: testDb.url!,
      ENCRYPTION_KEY: encryptionKey,
      ISSUER: issuer,
      DATA_DIR: dataDir,
      ...TEST_ENV,
      // A short lockout without waits, so that the test reaches the lock quickly.
      LOCKOUT_FAILURES: '5',
      LOGIN_MAX_DELAY_SECONDS: '0',
    };
    // Both start at once on an empty database: migrations and first keys are made exactly once.
    servers.push(...(await Promise.all(ports.map((port) => startServe({ ...shared, PORT: String(port) })))));
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    proxy?.close();
    await testDb?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('a flow started on one process finishes on the other', async () => {
    const config = loadConfig({ DATABASE_URL: testDb.url!, DATA_DIR: dataDir, ENCRYPTION_KEY: encryptionKey });
    const services = await createServices(config, testDb.db);
    await createCitizen(services);
    const { clientId, clientSecret } = await createWebClient(services);

    const rp = await relyingParty(issuer, clientId, clientSecret);
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile offline_access', prompt: 'consent' });
    expect(tokens.claims()!.name).toBeUndefined();
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo.name).toBe(SITI.name);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();

    // The interaction pages were served by both processes.
    const interactionPorts = new Set(served.filter((line) => line.includes('/interaction/')).map((line) => line.split(' ')[0]));
    expect(interactionPorts.size).toBe(2);
  });

  test('wrong passwords sent through both processes lock the account on both; the right password is then refused', async () => {
    const config = loadConfig({ DATABASE_URL: testDb.url!, DATA_DIR: dataDir, ENCRYPTION_KEY: encryptionKey });
    const services = await createServices(config, testDb.db);
    const target = { ...SITI, nik: '3571014101900002', email: 'target@example.id' };
    await createCitizen(services, target);
    const { clientId, clientSecret } = await createWebClient(services);
    const rp = await relyingParty(issuer, clientId, clientSecret);

    async function attempt(password: string): Promise<{ status: number; port: string }> {
      const agent = new Agent(issuer);
      const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
      const html = await res!.text();
      const posted = await agent.post(`${url}/login`, { _csrf: csrfTokenOf(html), identifier: target.email, password });
      const port = served.filter((line) => line.includes('POST /interaction/')).at(-1)!.split(' ')[0]!;
      return { status: posted.status, port };
    }

    const failures = [];
    for (let i = 0; i < 5; i++) failures.push(await attempt(`tebakan-salah-${i}`));
    expect(failures.map((f) => f.status)).toEqual([400, 400, 400, 400, 400]);
    expect(new Set(failures.map((f) => f.port)).size).toBe(2);
    const refused = [await attempt(target.password), await attempt(target.password)];
    expect(refused.map((r) => r.status)).toEqual([429, 429]);
    expect(new Set(refused.map((r) => r.port)).size).toBe(2);
  });

  test('both processes publish the same signing keys', async () => {
    const a = await (await fetch(`${issuer}/jwks`)).text();
    const b = await (await fetch(`${issuer}/jwks`)).text();
    expect(a).toBe(b);
    expect((await testDb.db.query('select kid from signing_keys')).rowCount).toBe(2);
  });
});
