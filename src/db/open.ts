import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Db } from './db.js';
import { openPgDb } from './pg.js';
import { openPgliteDb } from './pglite.js';

/** The embedded data directory is held by another live process (a running server, usually). */
export class DataDirBusy extends Error {
  constructor(readonly pid: number) {
    super(`the embedded database in this DATA_DIR is in use by process ${pid}`);
  }
}

const lockFile = (dataDir: string) => join(dataDir, 'kediri-id.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is one process's database: the lock file in DATA_DIR names the process that has it open.
 * A lock left by a process that died is taken over; a live one raises DataDirBusy.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const file = lockFile(dataDir);
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(file, 'utf8').catch(() => ''));
      if (holder && alive(holder)) throw new DataDirBusy(holder);
      await rm(file, { force: true });
    }
  }
}

/** PostgreSQL when DATABASE_URL is set, else the embedded PGlite in DATA_DIR (locked to this process). */
export async function openDatabase(config: Config): Promise<Db> {
  if (config.databaseUrl) return openPgDb(config.databaseUrl);
  const unlock = await lockDataDir(config.dataDir);
  try {
    const db = await openPgliteDb(join(config.dataDir, 'pglite'));
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
