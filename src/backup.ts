import { link, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Config } from './config.js';
import type { Db } from './db/db.js';
import { lockDataDir } from './db/open.js';
import { InputError } from './errors.js';
import { signingKeyProblems } from './oidc/keys.js';
import { countCitizens } from './identity/citizens.js';
import { countClients } from './clients/clients.js';
import { createSealer, storedEncryptionKey } from './secrets.js';

const FOR_POSTGRES = 'the embedded database only; for PostgreSQL use pg_dump and pg_restore (docs/operations.md)';

function absolute(file: string): string {
  if (!isAbsolute(file)) throw new InputError('file_not_absolute', 'file', `must be an absolute path (the server may run elsewhere): ${file}`);
  return file;
}

/**
 * `kediri-id backup --file PATH`: the embedded database as one gzipped tar, written readable by
 * the owner only, never over an existing file. Taken by the running server when there is one (the
 * CLI hands it the command), consistent since PGlite runs one statement at a time. It holds no
 * key: the encryption key (ENCRYPTION_KEY or DATA_DIR/secrets.json) must be kept apart.
 */
export async function backup(db: Db, file: string): Promise<{ file: string; bytes: number }> {
  if (!db.snapshot) throw new InputError('backup_embedded_only', undefined, `backup is for ${FOR_POSTGRES}`);
  const target = absolute(file);
  const bytes = await db.snapshot();
  // Written whole under a temporary name, then linked to its name (which fails if that exists):
  // a failed write leaves no partial backup behind.
  const partial = `${target}.${process.pid}.partial`;
  try {
    await writeFile(partial, bytes, { mode: 0o600, flag: 'wx', flush: true });
    await link(partial, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new InputError('backup_file_exists', 'file', `${target} exists: choose a new name`);
    throw error;
  } finally {
    await unlink(partial).catch(() => {});
  }
  return { file: target, bytes: bytes.length };
}

/**
 * `kediri-id restore --file PATH`: a backup into an empty DATA_DIR, with no server running. The
 * encryption key of the installation backed up must be there first (ENCRYPTION_KEY, or its
 * secrets.json copied into DATA_DIR): the restore checks that it decrypts the signing keys, and
 * removes what it restored when it does not.
 */
export async function restore(config: Config, file: string, read: (file: string) => Promise<Uint8Array>) {
  if (config.databaseUrl) throw new InputError('restore_embedded_only', undefined, `restore is for ${FOR_POSTGRES}`);
  const source = await read(absolute(file)).catch(() => {
    throw new InputError('backup_file_unreadable', 'file', `cannot read ${file}`);
  });
  const encryptionKey = await storedEncryptionKey(config);
  if (!encryptionKey) {
    throw new InputError('restore_needs_key', undefined, `set ENCRYPTION_KEY or copy the secrets.json of the installation backed up into ${config.dataDir} first`);
  }
  const unlock = await lockDataDir(config.dataDir);
  const target = join(config.dataDir, 'pglite');
  try {
    const present = await readdir(target).catch(() => []);
    if (present.length > 0) throw new InputError('restore_target_not_empty', undefined, `${target} holds a database: move it aside first`);
    // Loaded here only, as for serving: a process on PostgreSQL does not carry PGlite.
    const { openPgliteDb } = await import('./db/pglite.js');
    const db = await openPgliteDb(target, source).catch(async () => {
      await rm(target, { recursive: true, force: true });
      throw new InputError('backup_file_invalid', 'file', `${file} is not a backup of kediri-id backup`);
    });
    let restored = false;
    try {
      const problems = await signingKeyProblems(db, createSealer(encryptionKey));
      if (problems.some((problem) => problem.startsWith('ENCRYPTION_KEY'))) {
        throw new InputError('restore_wrong_key', undefined, `${problems.join('; ')}; nothing restored`);
      }
      const counts = { citizens: await countCitizens(db), clients: await countClients(db) };
      restored = true;
      return { restored: file, ...counts };
    } finally {
      await db.close();
      if (!restored) await rm(target, { recursive: true, force: true });
    }
  } finally {
    await unlock();
  }
}
