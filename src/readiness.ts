import type { Db } from './db/db.js';
import { pendingMigrations } from './db/migrate.js';
import { ALGORITHMS, type SigningKeys } from './oidc/keys.js';

/** A database that does not answer within this long counts as unavailable. */
const DATABASE_WAIT_MS = 2000;

/**
 * What keeps this process from serving, in plain words; empty when it is ready: the database
 * answers within two seconds, every migration of this version is applied, and a current signing
 * key of each algorithm is loaded.
 */
export async function readinessProblems(db: Db, signingKeys: SigningKeys): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), DATABASE_WAIT_MS);
  });
  let pending: string[];
  try {
    pending = await Promise.race([pendingMigrations(db), timeout]);
  } catch {
    return ['database unavailable'];
  } finally {
    clearTimeout(timer);
  }
  const problems = pending.length > 0 ? [`migrations not applied: ${pending.join(', ')}`] : [];
  const published = signingKeys.published();
  const missing = ALGORITHMS.filter((alg) => !published.some((key) => key.alg === alg && key.state === 'current'));
  if (missing.length > 0) problems.push(`no current signing key for ${missing.join(', ')}`);
  return problems;
}
