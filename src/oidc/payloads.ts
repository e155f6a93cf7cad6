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

/**
 * Ends every session of an account and revokes every grant and token issued to it, and drops the
 * interactions in which it has signed in but not yet finished (their login is nested in the
 * payload: a login entered just before a password reset must not complete after it). An email
 * change begun in one of those sessions ends too: its link works without a session, and must not
 * outlive a password change by someone who noticed an intruder.
 */
export async function endAccountSessions(on: Queryable, accountId: string): Promise<void> {
  await on.query(
    "update account_tokens set consumed_at = now() where citizen_id = $1 and purpose = 'change_email' and consumed_at is null",
    [accountId],
  );
  await on.query(
    `delete from oidc_payloads
     where payload->>'accountId' = $1
        or (model = 'Interaction' and $1 in (payload->'result'->'login'->>'accountId',
              payload->'lastSubmission'->'login'->>'accountId', payload->'session'->>'accountId'))`,
    [accountId],
  );
}
