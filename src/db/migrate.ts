import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
/** Any constant works; it only has to be the same for every process of this application. */
const MIGRATION_LOCK = 4_357_101;

/** The migration files of a directory (NNN_name.sql), in name order. */
const migrationFiles = async (dir: string) => (await readdir(dir)).filter((name) => /^\d+_[\w-]+\.sql$/.test(name)).sort();

/**
 * Applies the pending migrations/*.sql in name order, each in its own transaction together with
 * its record in schema_migrations. A transaction-scoped advisory lock serialises processes that
 * start at once: the second one waits, then sees the file recorded and skips it. A start with
 * nothing to apply costs two queries. Returns the names applied now.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  const applied: string[] = [];
  for (const name of await pendingMigrations(db, dir)) {
    const sql = await readFile(join(dir, name), 'utf8');
    const ran = await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await tx.exec(`create table if not exists schema_migrations (
        name text primary key,
        applied_at timestamptz not null default now())`);
      const done = await tx.query('select 1 from schema_migrations where name = $1', [name]);
      if (done.rowCount > 0) return false;
      await tx.exec(sql);
      await tx.query('insert into schema_migrations (name) values ($1)', [name]);
      return true;
    });
    if (ran) applied.push(name);
  }
  return applied;
}

/** The migrations this code has that the database has not applied (a newer version may have applied more). */
export async function pendingMigrations(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await migrationFiles(dir);
  const exists = await db.query("select to_regclass('schema_migrations') is not null as exists");
  if (!(exists.rows[0] as { exists: boolean }).exists) return files;
  const { rows } = await db.query<{ name: string }>('select name from schema_migrations');
  const applied = new Set(rows.map((row) => row.name));
  return files.filter((name) => !applied.has(name));
}
