import type { Queryable } from '../db/db.js';
import { createChangeCache, forgetChanged } from '../db/change-cache.js';

/**
 * The provider asks for the client on every protocol request, and the login pages for its name and
 * unit; these answers (the database reads, the secret's decryption) are kept in memory while the
 * process hears of every change (db/change-cache.ts): the clients table's trigger (migration 013)
 * announces each changed client_id on client_changed.
 */
const CHANNEL = 'client_changed';

export const createClientCache = () => createChangeCache(CHANNEL);

/** Forgets a client (or, without one, every client) in this process at once (see forgetChanged). */
export const forgetClient = (clientId?: string): void => forgetChanged(CHANNEL, clientId);

/**
 * A unit's name or logo changed, which every page naming one of its clients shows: announced to
 * every process (at the commit of `tx`) and forgotten in this one at once.
 */
export async function announceUnitChange(tx: Queryable): Promise<void> {
  await tx.query(`select pg_notify('${CHANNEL}', '')`);
  forgetClient();
}
