import type { Db, Queryable } from '../db/db.js';
import { enqueueSessionLogouts } from './logout-outbox.js';

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
 * outlive a password change by someone who noticed an intruder. Every relying party that took part
 * in one of the sessions is sent a back-channel logout.
 */
export async function endAccountSessions(on: Queryable, accountId: string): Promise<void> {
  await enqueueSessionLogouts(on, accountId);
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

/**
 * The live grant an account last gave a client, from any session: a consent is remembered across
 * logins until the citizen revokes it (or it expires), not only for the session it was given in.
 */
export async function rememberedGrantId(db: Db, accountId: string, clientId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `select id from oidc_payloads
     where model = 'Grant' and payload->>'accountId' = $1 and payload->>'clientId' = $2
       and (expires_at is null or expires_at > now())
     order by (payload->>'iat')::bigint desc limit 1`,
    [accountId, clientId],
  );
  return rows[0]?.id;
}
