import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Db, Queryable, Rows } from './db.js';

/**
 * PostgreSQL's settings in the embedded database, after PGlite's own. Its shared buffers live in
 * the process's WebAssembly memory, which never shrinks, while its data files are read through the
 * operating system's cache anyway: 16 MB instead of PostgreSQL's 128 MB keeps some 100 MB out of
 * the server process at no measurable cost per query (docs/performance.md).
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * Makes a new database directory (initdb) in a child process of its own. PGlite's initdb runs a
 * second PostgreSQL beside the first and copies its whole memory: some 800 MB at the peak, which
 * the server process would otherwise keep as its high-water mark and in part as resident memory.
 */
async function initdbApart(dataDir: string): Promise<void> {
  const pglite = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const script = 'const [pglite, dataDir, startParams] = process.argv.slice(1); const { PGlite } = await import(pglite); await (await PGlite.create(dataDir, { startParams: JSON.parse(startParams) })).close();';
  try {
    await promisify(execFile)(process.execPath, ['--input-type=module', '--eval', script, pglite, dataDir, JSON.stringify(START_PARAMS)]);
  } catch (error) {
    throw new Error(`could not make the embedded database in ${dataDir}: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
  }
}

/**
 * A Db over the embedded PGlite in dataDir ('memory://' for a throw-away database); `from`, a
 * snapshot() of another, fills an empty dataDir with it (kediri-id restore).
 */
export async function openPgliteDb(dataDir: string, from?: Uint8Array): Promise<Db & { pglite: PGlite }> {
  if (!from && !dataDir.includes('://') && !existsSync(join(dataDir, 'PG_VERSION'))) await initdbApart(dataDir);
  const pglite = await PGlite.create(dataDir, { startParams: START_PARAMS, ...(from ? { loadDataDir: new Blob([new Uint8Array(from)]) } : {}) });

  let sent = 0;
  const over = (client: PGlite | Transaction): Queryable => ({
    async query<T>(sql: string, params?: unknown[]): Promise<Rows<T>> {
      sent++;
      const result = await client.query<T>(sql, params);
      // PGlite reports affectedRows 0 for a SELECT: count the rows returned then, as pg does.
      return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
    },
    async exec(sql: string) {
      sent++;
      await client.exec(sql);
    },
  });

  return {
    driver: 'pglite',
    pglite,
    ...over(pglite),
    transaction: (fn) => {
      sent += 2; // begin and commit (or rollback)
      return pglite.transaction((tx) => fn(over(tx)));
    },
    statements: () => sent,
    // One database in this process: nothing to lose, so it is listening until closed.
    async listen(channel, onMessage, onListening) {
      await pglite.listen(channel, onMessage);
      onListening(true);
    },
    async snapshot() {
      return new Uint8Array(await (await pglite.dumpDataDir('gzip')).arrayBuffer());
    },
    async close() {
      await pglite.close();
    },
  };
}
