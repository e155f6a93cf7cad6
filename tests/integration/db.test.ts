import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDatabaseUnavailable } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { openPgDb } from '../../src/db/pg.js';
import { openPgliteDb } from '../../src/db/pglite.js';
import { createAudit } from '../../src/audit/audit.js';
import { createClientStore } from '../../src/clients/clients.js';
import { createAdapterFactory } from '../../src/oidc/adapter.js';
import { sweepExpired } from '../../src/oidc/payloads.js';
import { createSealer, newSecret } from '../../src/secrets.js';
import { createTestDb, type TestDb } from '../support/db.js';

let testDb: TestDb;
beforeAll(async () => {
  testDb = await createTestDb({ empty: true });
});
afterAll(() => testDb.drop());

const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

describe(`database layer (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  test('migrations apply once, also when two processes start at once', async () => {
    const files = (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort();
    // A second connection pool stands for a second process (PGlite: the same single connection).
    const second = testDb.url ? openPgDb(testDb.url, { max: 10 }) : testDb.db;
    try {
      const [a, b] = await Promise.all([migrate(testDb.db), migrate(second)]);
      expect([...a, ...b].sort()).toEqual(files);
    } finally {
      if (second !== testDb.db) await second.close();
    }
    expect(await migrate(testDb.db)).toEqual([]);
    const { rows } = await testDb.db.query<{ name: string }>('select name from schema_migrations order by name');
    expect(rows.map((r) => r.name)).toEqual(files);
    expect((await testDb.db.query('select slug from units')).rowCount).toBe(10);
  });

  test('a failing migration is rolled back whole and not recorded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kediri-migrations-'));
    try {
      await writeFile(join(dir, '900_good.sql'), 'create table probe_good (id int);');
      await writeFile(join(dir, '901_bad.sql'), 'create table probe_half (id int); select * from no_such_table;');
      await expect(migrate(testDb.db, `${dir}/`)).rejects.toThrow(/no_such_table/);
      const tables = await testDb.db.query<{ name: string }>(
        "select table_name as name from information_schema.tables where table_name like 'probe_%' order by 1",
      );
      expect(tables.rows.map((t) => t.name)).toEqual(['probe_good']);
      const recorded = await testDb.db.query("select 1 from schema_migrations where name like '90%'");
      expect(recorded.rowCount).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a transaction that throws leaves nothing behind', async () => {
    await expect(
      testDb.db.transaction(async (tx) => {
        await tx.query("insert into units (slug, name) values ('probe-unit', 'Probe')");
        throw new Error('stop');
      }),
    ).rejects.toThrow('stop');
    expect((await testDb.db.query("select 1 from units where slug = 'probe-unit'")).rowCount).toBe(0);
  });

  (process.env.DATABASE_URL ? test : test.skip)('a connection that dies inside a transaction fails that transaction, not the process; the pool carries on', async () => {
    const failure = await testDb.db
      .transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
        await testDb.db.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        // The connection's error arrives while no statement of it runs.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await tx.query("insert into units (slug, name) values ('probe-lost', 'Probe')");
      })
      .then(() => undefined, (error: unknown) => error);
    expect(isDatabaseUnavailable(failure)).toBe(true);
    expect((await testDb.db.query("select 1 from units where slug = 'probe-lost'")).rowCount).toBe(0);
    expect(await testDb.db.transaction((tx) => tx.query('select 1'))).toMatchObject({ rowCount: 1 });
  });

  test('the provider adapter: expiry, sweeping, grant revocation, the refresh-token grace window, an ended interaction', async () => {
    const sealer = createSealer(newSecret());
    const clients = createClientStore(testDb.db, sealer, createAudit(testDb.db));
    const Adapter = createAdapterFactory(testDb.db, clients, 1);
    const sessions = new Adapter('Session');
    const tokens = new Adapter('RefreshToken');

    await sessions.upsert('s-short', { uid: 'u1' }, 1);
    await sessions.upsert('s-long', { uid: 'u2' }, 3600);
    expect(await sessions.findByUid('u1')).toEqual({ uid: 'u1' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await sessions.find('s-short')).toBeUndefined();
    expect(await sweepExpired(testDb.db, createAudit(testDb.db))).toBeGreaterThanOrEqual(1);
    expect(await sessions.find('s-long')).toEqual({ uid: 'u2' });

    await tokens.upsert('rt1', { grantId: 'g1', kind: 'RefreshToken' }, 3600);
    await tokens.consume('rt1');
    const consumedAt = (await testDb.db.query<{ at: Date }>("select consumed_at as at from oidc_payloads where id = 'rt1'")).rows[0]!.at;
    // Just rotated: served as unused once more, so a concurrent refresh succeeds; then it is used.
    expect((await tokens.find('rt1'))?.consumed).toBeUndefined();
    expect((await tokens.find('rt1'))?.consumed).toEqual(expect.any(Number));
    // Consuming again does not restart the window.
    await tokens.consume('rt1');
    const again = (await testDb.db.query<{ at: Date }>("select consumed_at as at from oidc_payloads where id = 'rt1'")).rows[0]!.at;
    expect(again.getTime()).toBe(consumedAt.getTime());
    await tokens.upsert('rt2', { grantId: 'g1', kind: 'RefreshToken' }, 3600);
    await tokens.consume('rt2');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await tokens.find('rt2'))?.consumed).toEqual(expect.any(Number));

    // Of two redemptions of one authorization code, only one consumes it.
    const codes = new Adapter('AuthorizationCode');
    await codes.upsert('c1', { grantId: 'g2', kind: 'AuthorizationCode' }, 60);
    const outcomes = await Promise.allSettled([codes.consume('c1'), codes.consume('c1')]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);

    await tokens.revokeByGrantId('g1');
    expect(await tokens.find('rt1')).toBeUndefined();
    expect(await tokens.find('rt2')).toBeUndefined();
    // An interaction's result is saved only while it exists: one ended meanwhile (a concurrent
    // resume deleted it) is not made again.
    const interactions = new Adapter('Interaction');
    await interactions.upsert('i1', { kind: 'Interaction', params: {} }, 600);
    await interactions.upsert('i1', { kind: 'Interaction', params: {}, result: { login: { accountId: 'a1' } } }, 600);
    expect((await interactions.find('i1'))?.result).toEqual({ login: { accountId: 'a1' } });
    await interactions.destroy('i1');
    await expect(interactions.upsert('i1', { kind: 'Interaction', params: {}, result: { login: { accountId: 'a1' } } }, 600)).rejects.toMatchObject({ error_description: 'interaction session not found' });
    expect(await interactions.find('i1')).toBeUndefined();

    // Clients come from the clients table, never from oidc_payloads.
    await expect(new Adapter('Client').upsert('x', {}, 0)).rejects.toThrow(/clients table/);
    expect(await new Adapter('Client').find('no-such-client')).toBeUndefined();
  });
});

// The embedded database on every run, PostgreSQL runs included.
describe('the embedded database (PGlite) on disk', () => {
  test('a new data directory is made apart, opened, and opened again with the same settings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kediri-pglite-'));
    try {
      const dataDir = join(dir, 'pglite');
      for (const open of ['first', 'again']) {
        const db = await openPgliteDb(dataDir);
        try {
          expect((await db.query<{ shared_buffers: string }>('show shared_buffers')).rows[0]).toEqual({ shared_buffers: '16MB' });
          if (open === 'first') await db.exec('create table kept (id int); insert into kept values (1)');
          expect((await db.query('select id from kept')).rows).toEqual([{ id: 1 }]);
        } finally {
          await db.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a data directory that cannot be made says why', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kediri-pglite-'));
    try {
      await writeFile(join(dir, 'file'), '');
      await expect(openPgliteDb(join(dir, 'file', 'pglite'))).rejects.toThrow(/could not make the embedded database in .*ENOTDIR/s);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
