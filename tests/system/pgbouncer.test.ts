import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { LISTENER_NAME } from '../../src/db/pg.js';
import { createServices } from '../../src/services.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { createWebClient } from '../support/fixtures.js';
import { describeBehindPgBouncer, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { kediriId } from '../support/process.js';
import { outcomeAfterChange, relyingParty, tokenOutcome } from '../support/rp.js';
import { expectFlowAcrossProcesses, startTwoProcesses, type TwoProcesses } from '../support/two-processes.js';

/**
 * Two server processes whose DATABASE_URL is a PgBouncer in transaction mode (Debian's 1.18, which
 * keeps no prepared statements there): DATABASE_PREPARED_STATEMENTS=false, and the one listening
 * connection of each process goes to PostgreSQL directly (DATABASE_LISTEN_URL).
 */
describeBehindPgBouncer('two processes behind PgBouncer in transaction mode', () => {
  let testDb: TestDb;
  let bouncer: PgBouncer;
  let processes: TwoProcesses;
  let pooledUrl: string;
  let database: string;

  beforeAll(async () => {
    testDb = await createTestDb();
    database = new URL(testDb.url!).pathname.slice(1);
    bouncer = await startPgBouncer(process.env.DATABASE_URL!);
    pooledUrl = bouncer.pooled(testDb.url!);
    processes = await startTwoProcesses({ DATABASE_URL: pooledUrl, DATABASE_PREPARED_STATEMENTS: 'false', DATABASE_LISTEN_URL: testDb.url! });
  });

  afterAll(async () => {
    await processes?.stop();
    await bouncer?.stop();
    await testDb?.drop();
  });

  test('a flow started on one process finishes on the other, its statements through the pooler', async () => {
    const before = await bouncer.transactions(database);
    await expectFlowAcrossProcesses(processes, testDb);
    // Sign-in, code, userinfo and refresh: dozens of transactions went through PgBouncer.
    expect((await bouncer.transactions(database)) - before).toBeGreaterThan(20);
  });

  test('a suspended client is refused by both processes within moments: each hears the change on its direct connection', async () => {
    const listeners = await testDb.db.query('select 1 from pg_stat_activity where datname = current_database() and application_name = $1', [LISTENER_NAME]);
    expect(listeners.rowCount).toBe(2);

    const config = loadConfig({ DATABASE_URL: testDb.url!, DATA_DIR: processes.dataDir, ENCRYPTION_KEY: processes.encryptionKey });
    const { clientId, clientSecret } = await createWebClient(await createServices(config, testDb.db));
    const rp = await relyingParty(processes.issuer, clientId, clientSecret);
    // The proxy alternates: two grants reach both processes, and each now holds the client.
    expect([await tokenOutcome(rp), await tokenOutcome(rp)]).toEqual(['ok', 'ok']);

    // Changed with SQL, as psql or another process would: only the notification tells the processes.
    await testDb.db.query("update clients set status = 'suspended' where client_id = $1", [clientId]);
    expect(await outcomeAfterChange(rp, 'ok')).toBe('invalid_client');
    expect([await tokenOutcome(rp), await tokenOutcome(rp)]).toEqual(['invalid_client', 'invalid_client']);

    await testDb.db.query("update clients set status = 'active' where client_id = $1", [clientId]);
    expect(await outcomeAfterChange(rp, 'invalid_client')).toBe('ok');
    expect([await tokenOutcome(rp), await tokenOutcome(rp)]).toEqual(['ok', 'ok']);
  });

  test('kediri-id doctor names what breaks behind the pooler, and passes with both settings', async () => {
    const env = { DATABASE_URL: pooledUrl, DATA_DIR: processes.dataDir, ENCRYPTION_KEY: processes.encryptionKey, NODE_ENV: 'test' };
    const unset = await kediriId(['doctor'], env);
    expect(unset.code).toBe(1);
    expect(unset.stdout).toMatch(/^FAIL {2}prepared statements: prepared statement ".*" (already exists|does not exist): .*set DATABASE_PREPARED_STATEMENTS=false/m);
    expect(unset.stdout).toMatch(/^FAIL {2}notifications: the listening connection \(127\.0\.0\.1:\d+\/kediri_test_\w+\) heard no notification within 5 s: .*set DATABASE_LISTEN_URL/m);

    const set = await kediriId(['doctor'], { ...env, DATABASE_PREPARED_STATEMENTS: 'false', DATABASE_LISTEN_URL: testDb.url! });
    expect(set.stdout).toMatch(/^ok {4}prepared statements: off \(DATABASE_PREPARED_STATEMENTS=false\)/m);
    expect(set.stdout).toMatch(/^ok {4}notifications: the listening connection \([^)]*\/kediri_test_\w+\) hears changes$/m);
    expect(set.code).toBe(0);

    // Without DATABASE_LISTEN_URL, unprepared statements are refused at once, in plain words.
    const half = await kediriId(['doctor'], { ...env, DATABASE_PREPARED_STATEMENTS: 'false' });
    expect(half.code).toBe(1);
    expect(half.stdout).toMatch(/^FAIL {2}configuration: DATABASE_PREPARED_STATEMENTS=false is for a pooler in transaction mode, where LISTEN does not work: set DATABASE_LISTEN_URL/m);
  });
});
