import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import pg from 'pg';
import type { Db } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { openPgDb } from '../../src/db/pg.js';
import { openPgliteDb } from '../../src/db/pglite.js';

export interface TestDb {
  db: Db;
  /** The connection string of this test's own database (PostgreSQL runs only). */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * Where jest's global setup (tests/support/global-setup.js) left the migrated database of this run:
 * the name of a template database on the PostgreSQL server, or the file of a PGlite snapshot.
 */
export const TEMPLATE_ENV = { postgres: 'KEDIRI_TEST_TEMPLATE_DATABASE', pglite: 'KEDIRI_TEST_TEMPLATE_SNAPSHOT' } as const;

const withDatabase = (server: string, name: string) => {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
};

async function onServer<T>(server: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * A fresh, migrated database for one test file: a new database on the PostgreSQL server that
 * DATABASE_URL names, or an in-memory PGlite when it is unset. Runs never see each other's data.
 * Under jest each is a copy of the run's template, migrated once (`create database ... template`,
 * a PGlite snapshot); elsewhere (the benchmarks) it is migrated here. `{ empty: true }` gives a
 * database without migrations, for the tests of migrating.
 */
export async function createTestDb({ empty = false } = {}): Promise<TestDb> {
  const server = process.env.DATABASE_URL;
  const template = empty ? undefined : process.env[server ? TEMPLATE_ENV.postgres : TEMPLATE_ENV.pglite];
  if (!server) {
    const db = await openPgliteDb('memory://', template ? await readFile(template) : undefined);
    if (!empty && !template) await migrate(db);
    return { db, url: undefined, drop: () => db.close() };
  }
  const name = `kediri_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(server, (admin) => admin.query(`create database ${name}${template ? ` template ${template}` : ''}`));
  const url = withDatabase(server, name);
  const db = openPgDb(url, { max: 10 });
  if (!empty && !template) await migrate(db);
  return {
    db,
    url,
    async drop() {
      await db.close();
      await onServer(server, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/**
 * Jest's global setup: migrates one database for the whole run and says where it is (TEMPLATE_ENV,
 * inherited by the test workers). On PostgreSQL no connection to the template stays open, since
 * `create database ... template` needs it unused.
 */
export async function createTemplate(): Promise<() => Promise<void>> {
  const server = process.env.DATABASE_URL;
  if (!server) {
    const db = await openPgliteDb('memory://');
    await migrate(db);
    const file = `${tmpdir()}/kediri-test-template-${process.pid}-${randomBytes(4).toString('hex')}.tar.gz`;
    await writeFile(file, await db.snapshot!());
    await db.close();
    process.env[TEMPLATE_ENV.pglite] = file;
    return () => rm(file, { force: true });
  }
  const name = `kediri_template_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(server, (admin) => admin.query(`create database ${name}`));
  const db = openPgDb(withDatabase(server, name), { max: 2 });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  process.env[TEMPLATE_ENV.postgres] = name;
  return () => onServer(server, async (admin) => void (await admin.query(`drop database if exists ${name} with (force)`)));
}
