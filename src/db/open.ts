import { cp, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import lockfile from 'proper-lockfile';
import type { Config } from '../config.js';
import type { Db } from './db.js';

/**
 * An embedded database with the migrations of the build applied, made by the build
 * (scripts/build.js) beside the compiled code. Running from the sources there is none.
 */
export const PGLITE_TEMPLATE = fileURLToPath(new URL('../pglite-template', import.meta.url));

const exists = (path: string) => stat(path).then(() => true, () => false);

/**
 * A new embedded database starts as a copy of the template when there is one: a copy takes a
 * fraction of a second, PGlite's own initdb several seconds of WebAssembly. The copy is made
 * under another name and renamed, so that a copy cut short is never taken for a database.
 */
async function copyTemplate(template: string, dir: string): Promise<void> {
  if ((await exists(dir)) || !(await exists(template))) return;
  const copy = `${dir}.copying`;
  await rm(copy, { recursive: true, force: true });
  await cp(template, copy, { recursive: true });
  await rename(copy, dir);
}

/** The embedded data directory is held by another live process (a running server, usually). */
export class DataDirBusy extends Error {
  constructor() {
    super('the embedded database in this DATA_DIR is in use by another process');
  }
}

/**
 * PGlite is one process's database. The lock (an atomically created directory whose mtime the
 * holder refreshes) makes that enforceable: a live holder raises DataDirBusy, and the lock of a
 * process that died goes stale after 10 s and is taken over. If the lock is ever lost while held,
 * proper-lockfile ends the process rather than let two processes write one directory.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    return await lockfile.lock(dataDir, { lockfilePath: join(dataDir, 'kediri-id.lock'), stale: 10_000, update: 2_000, retries: 0 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirBusy();
    throw error;
  }
}

/**
 * PostgreSQL when DATABASE_URL is set, else the embedded PGlite in DATA_DIR (locked to this
 * process), a copy of the template when DATA_DIR has none yet.
 */
export async function openDatabase(config: Config, template = PGLITE_TEMPLATE): Promise<Db> {
  if (config.databaseUrl) {
    // Loaded only here, as PGlite below: each database's driver only where it is used.
    const { openPgDb } = await import('./pg.js');
    return openPgDb(config.databaseUrl, {
      max: config.databasePoolSize,
      listenUrl: config.databaseListenUrl,
      preparedStatements: config.databasePreparedStatements,
    });
  }
  const unlock = await lockDataDir(config.dataDir);
  try {
    // Loaded only here: a process on PostgreSQL does not carry PGlite (some 35 MB resident).
    const { openPgliteDb } = await import('./pglite.js');
    const dir = join(config.dataDir, 'pglite');
    await copyTemplate(template, dir);
    const db = await openPgliteDb(dir);
    return {
      ...db,
      async close() {
        await db.close();
        await unlock();
      },
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}
