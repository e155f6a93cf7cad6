import type { Db, Queryable } from '../db/db.js';

/*
 * Maintenance of oidc-provider's stored models, apart from the adapter so that the operator CLI
 * and the server's timers do not load oidc-provider.
 */

/** Deletes expired rows; every process runs it now and then (idempotent, cheap with the index). */
export async function sweepExpired(db: Db): Promise<number> {
  const result = await db.query('delete from oidc_payloads where expires_at < now()');
  return result.rowCount;
}

/** Ends every session of an account and revokes every grant and token issued to it. */
export async function endAccountSessions(on: Queryable, accountId: string): Promise<void> {
  await on.query("delete from oidc_payloads where payload->>'accountId' = $1", [accountId]);
}
