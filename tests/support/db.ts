import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/db/db.js';
import { openPgDb } from '../../src/db/pg.js';
import { openPgliteDb } from '../../src/db/pglite.js';

export interface TestDb {
  db: Db;
  /** The connection string of this test's own database (PostgreSQL runs only). */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file: a new database on the PostgreSQL server that DATABASE_URL
 * names, or an in-memory PGlite when it is unset. Runs never see each other's data.
 */
export async function createTestDb(): Promise<TestDb> {
  const server = process.env.DATABASE_URL;
  if (!server) {
    const db = await openPgliteDb('memory://');
    return { db, url: undefined, drop: () => db.close() };
  }
  const name = `kediri_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  const db = openPgDb(url.toString(), { max: 10 });
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: server });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}
