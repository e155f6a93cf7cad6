import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { expectFlowAcrossProcesses, startTwoProcesses, type TwoProcesses } from '../support/two-processes.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { Agent, csrfTokenOf } from '../support/agent.js';

/**
 * Two server processes on one PostgreSQL database behind a round-robin proxy (no sticky
 * sessions): every request of a flow may land on either process. PostgreSQL only, since the
 * embedded database belongs to one process by design.
 */
const describeOnPostgres = process.env.DATABASE_URL ? describe : describe.skip;

describeOnPostgres('two processes on one PostgreSQL database', () => {
  let testDb: TestDb;
  let processes: TwoProcesses;
  let issuer: string;
  let dataDir: string;
  let encryptionKey: string;
  let served: string[];

  beforeAll(async () => {
    testDb = await createTestDb();
    processes = await startTwoProcesses({
      DATABASE_URL: testDb.url!,
      // A short lockout without waits, so that the test reaches the lock quickly.
      LOCKOUT_FAILURES: '5',
      LOGIN_MAX_DELAY_SECONDS: '0',
    });
    ({ issuer, dataDir, encryptionKey, served } = processes);
  });

  afterAll(async () => {
    await processes?.stop();
    await testDb?.drop();
  });

  test('a flow started on one process finishes on the other', () => expectFlowAcrossProcesses(processes, testDb));

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
