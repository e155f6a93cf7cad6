import type { Db, Queryable } from '../db/db.js';

/*
 * The statements on oidc_payloads other than the adapter's own: maintenance, and what the rest of
 * the service reads and ends of an account's sessions and grants. Apart from the adapter so that
 * the operator CLI and the server's timers do not load oidc-provider.
 */

/** Deletes expired rows; every process runs it now and then (idempotent, cheap with the index). */
export async function sweepExpired(db: Db): Promise<number> {
  const result = await db.query('delete from oidc_payloads where expires_at < now()');
  return result.rowCount;
}

/** How many sign-in sessions have not expired (a metric). */
export async function countLiveSessions(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from oidc_payloads where model = 'Session' and expires_at > now()");
  return rows[0]!.n;
}

/**
 * The clients that took part in the account's live sessions (or in the one session named, or the
 * one client named), each with the sid the session gave it.
 */
export async function sessionParticipants(on: Queryable, accountId: string, only: { sessionId?: string; clientId?: string } = {}) {
  const { rows } = await on.query<{ clientId: string; sid: string }>(
    `select a.key as "clientId", a.value->>'sid' as sid
     from oidc_payloads s
     cross join lateral jsonb_each(coalesce(s.payload->'authorizations', '{}'::jsonb)) a
     where s.model = 'Session' and s.payload->>'accountId' = $1 and ($2::text is null or s.id = $2)
       and ($3::text is null or a.key = $3)
       and (s.expires_at is null or s.expires_at > now()) and a.value->>'sid' is not null`,
    [accountId, only.sessionId ?? null, only.clientId ?? null],
  );
  return rows;
}

/** Takes a client out of the account's sessions (its authorization: sid and grant), as if it had never been signed in to in them. */
export async function dropClientFromSessions(on: Queryable, accountId: string, clientId: string): Promise<void> {
  await on.query(
    `update oidc_payloads set payload = jsonb_set(payload, '{authorizations}', (payload->'authorizations') - $2::text)
     where model = 'Session' and payload->>'accountId' = $1 and payload->'authorizations' ? $2`,
    [accountId, clientId],
  );
}

/** Every grant (live or not) of the account to the client. */
export async function clientGrants(on: Queryable, accountId: string, clientId: string): Promise<string[]> {
  const { rows } = await on.query<{ id: string }>(
    "select id from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1 and payload->>'clientId' = $2",
    [accountId, clientId],
  );
  return rows.map((r) => r.id);
}

/**
 * Deletes every session, grant and token of an account, and the interactions in which it has
 * signed in but not yet finished (their login is nested in the payload).
 */
export async function deleteAccountPayloads(on: Queryable, accountId: string): Promise<void> {
  await on.query(
    `delete from oidc_payloads
     where payload->>'accountId' = $1
        or (model = 'Interaction' and $1 in (payload->'result'->'login'->>'accountId',
              payload->'lastSubmission'->'login'->>'accountId', payload->'session'->>'accountId'))`,
    [accountId],
  );
}

/** The grants made in one session of this account; undefined when it is not this account's live session. */
export async function sessionGrants(on: Queryable, accountId: string, sessionId: string): Promise<string[] | undefined> {
  const { rows } = await on.query<{ grants: string[] }>(
    `select coalesce(array(select value->>'grantId' from jsonb_each(payload->'authorizations')), '{}') as grants
     from oidc_payloads where model = 'Session' and id = $1 and payload->>'accountId' = $2`,
    [sessionId, accountId],
  );
  return rows[0]?.grants.filter(Boolean);
}

export async function deleteSession(on: Queryable, sessionId: string): Promise<void> {
  await on.query("delete from oidc_payloads where model = 'Session' and id = $1", [sessionId]);
}

/** Deletes grants with every token issued under them. */
export async function deleteGrants(on: Queryable, grantIds: string[]): Promise<void> {
  if (grantIds.length) await on.query("delete from oidc_payloads where grant_id = any($1) or (model = 'Grant' and id = any($1))", [grantIds]);
}

/** The client of a grant of this account, unless that client is `except`; undefined when the grant is not this account's. */
export async function grantClient(on: Queryable, accountId: string, grantId: string, except: string): Promise<string | undefined> {
  const { rows } = await on.query<{ client_id: string }>(
    `select payload->>'clientId' as client_id from oidc_payloads
     where model = 'Grant' and id = $1 and payload->>'accountId' = $2 and payload->>'clientId' <> $3`,
    [grantId, accountId, except],
  );
  return rows[0]?.client_id;
}

/** A counter's request (CIBA) waiting for the citizen's answer. */
export interface PendingBackchannelRequest {
  id: string;
  clientId: string;
  scope: string;
  bindingMessage: string;
  expiresAt: Date;
}

/**
 * The account's backchannel authentication requests (CIBA) that are not answered, consumed or
 * expired yet (by their own exp: the row outlives it, adapter.ts), soonest to expire first; with
 * `id`, only that one.
 */
export async function pendingBackchannelRequests(on: Queryable, accountId: string, id?: string): Promise<PendingBackchannelRequest[]> {
  const { rows } = await on.query<PendingBackchannelRequest>(
    `select id, payload->>'clientId' as "clientId", coalesce(payload->>'scope', '') as scope,
       coalesce(payload->'params'->>'binding_message', '') as "bindingMessage",
       to_timestamp((payload->>'exp')::double precision) as "expiresAt"
     from oidc_payloads
     where model = 'BackchannelAuthenticationRequest' and payload->>'accountId' = $1 and ($2::text is null or id = $2)
       and (payload->>'exp')::double precision > extract(epoch from now())
       and consumed_at is null and payload->>'grantId' is null and payload->>'error' is null
     order by "expiresAt"`,
    [accountId, id ?? null],
  );
  return rows;
}

/** The account's live grants, newest first. */
export async function accountGrants(db: Db, accountId: string) {
  const { rows } = await db.query<{ grantId: string; clientId: string; scope: string | null; since: Date }>(
    `select id as "grantId", payload->>'clientId' as "clientId", payload->'openid'->>'scope' as scope,
       to_timestamp((payload->>'iat')::double precision) as since
     from oidc_payloads
     where model = 'Grant' and payload->>'accountId' = $1 and (expires_at is null or expires_at > now())
     order by since desc`,
    [accountId],
  );
  return rows;
}

/** The account's live sign-in sessions, newest first, with the device and address of each login (from its audit entry). */
export async function accountSessions(db: Db, accountId: string) {
  const { rows } = await db.query<{ id: string; login_ts: number; authorizations: Record<string, unknown> | null; user_agent: string | null; ip: string | null }>(
    `select s.id, (s.payload->>'loginTs')::bigint as login_ts, s.payload->'authorizations' as authorizations,
       l.details->>'userAgent' as user_agent, l.ip
     from oidc_payloads s
     left join lateral (
       select details, ip from audit_events a
       where a.citizen_id = $2 and a.type = 'login.succeeded'
         and a.at between to_timestamp((s.payload->>'loginTs')::bigint) - interval '10 seconds'
                      and to_timestamp((s.payload->>'loginTs')::bigint) + interval '10 seconds'
       order by a.at desc limit 1) l on true
     where s.model = 'Session' and s.payload->>'accountId' = $1 and (s.expires_at is null or s.expires_at > now())
     order by login_ts desc`,
    [accountId, accountId],
  );
  return rows;
}

/** Deletes everything the provider stored for a client (its grants and tokens); returns how many rows. */
export async function deleteClientPayloads(on: Queryable, clientId: string): Promise<number> {
  const result = await on.query("delete from oidc_payloads where payload->>'clientId' = $1", [clientId]);
  return result.rowCount;
}
