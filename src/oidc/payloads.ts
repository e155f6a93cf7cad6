import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { enqueueLogouts, type SessionParticipant } from './logout-outbox.js';

/*
 * The statements on oidc_payloads other than the adapter's own: maintenance, and what the rest of
 * the service reads and ends of an account's sessions and grants. Apart from the adapter so that
 * the operator CLI and the server's timers do not load oidc-provider.
 */

/** Expired sign-in sessions ended per transaction of the sweep. */
const EXPIRED_SESSIONS_BATCH = 200;

/** What a deleted session row tells of who was signed in and where. */
interface EndedSession {
  accountId: string | null;
  authorizations: Record<string, { sid?: unknown }> | null;
}

/** The clients that took part in an ended session, each with the sid the session gave it. */
function participantsOf({ accountId, authorizations }: EndedSession): SessionParticipant[] {
  if (!accountId) return [];
  return Object.entries(authorizations ?? {}).flatMap(([clientId, { sid }]) => (typeof sid === 'string' ? [{ accountId, clientId, sid }] : []));
}

/**
 * Ends one batch of sign-in sessions past their lifetime: one statement claims and deletes them
 * (skip locked: of processes sweeping at once, exactly one ends each session), and in its
 * transaction every relying party that took part is queued a back-channel logout and the end is
 * audited (session.expired, for the sessions that had services). Returns how many sessions ended.
 */
async function endExpiredSessions(db: Db, audit: Audit): Promise<number> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<EndedSession>(
      `delete from oidc_payloads where model = 'Session' and id in (
         select id from oidc_payloads where model = 'Session' and expires_at < now()
         order by expires_at limit ${EXPIRED_SESSIONS_BATCH} for update skip locked)
       returning payload->>'accountId' as "accountId", payload->'authorizations' as authorizations`,
    );
    const ended = rows.map(participantsOf);
    await enqueueLogouts(tx, ended.flat());
    for (const participants of ended) {
      if (participants.length === 0) continue;
      const clients = participants.map((p) => p.clientId);
      await audit({ type: 'session.expired', citizenId: participants[0]!.accountId, details: { clients } }, tx);
    }
    return rows.length;
  });
}

/**
 * Deletes expired rows (idempotent, batched, cheap with the expiry index). An expired sign-in
 * session ends as the others do, with a back-channel logout to its services (endExpiredSessions,
 * batch after batch); then the other expired rows go, `limit` of them at most when given (the
 * retention job calls it again while it deletes that many).
 */
export async function sweepExpired(db: Db, audit: Audit, limit?: number): Promise<number> {
  let swept = 0;
  let ended: number;
  do {
    ended = await endExpiredSessions(db, audit);
    swept += ended;
  } while (ended === EXPIRED_SESSIONS_BATCH);
  const result = await db.query(
    `delete from oidc_payloads where ctid = any(array(
       select ctid from oidc_payloads where expires_at < now() and model <> 'Session' limit $1))`,
    [limit ?? null],
  );
  return swept + result.rowCount;
}

/** How many sign-in sessions have not expired (a metric). */
export async function countLiveSessions(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from oidc_payloads where model = 'Session' and expires_at > now()");
  return rows[0]!.n;
}

/**
 * Queues a back-channel logout for every client that took part in the account's live sessions (or
 * in the one session named, or only for the client named) and registered a
 * backchannel_logout_uri. Call it in the transaction that deletes the sessions (or the client's
 * part in them), before it does.
 */
export async function enqueueSessionLogouts(on: Queryable, accountId: string, only: { sessionId?: string; clientId?: string } = {}): Promise<void> {
  const { rows } = await on.query<SessionParticipant>(
    `select s.payload->>'accountId' as "accountId", a.key as "clientId", a.value->>'sid' as sid
     from oidc_payloads s
     cross join lateral jsonb_each(coalesce(s.payload->'authorizations', '{}'::jsonb)) a
     where s.model = 'Session' and s.payload->>'accountId' = $1 and ($2::text is null or s.id = $2)
       and ($3::text is null or a.key = $3)
       and (s.expires_at is null or s.expires_at > now()) and a.value->>'sid' is not null`,
    [accountId, only.sessionId ?? null, only.clientId ?? null],
  );
  await enqueueLogouts(on, rows);
}

/** As enqueueSessionLogouts, for every live session signed in at or before `by` (of any account). */
export async function enqueueLogoutsOfSessionsSignedInBy(on: Queryable, by: Date): Promise<void> {
  await enqueueLogouts(on, await participantsOfSessionsSignedInBy(on, by));
}

/** The filter of the live sessions signed in at or before $1 (a time). */
const SIGNED_IN_BY = `s.model = 'Session' and (s.expires_at is null or s.expires_at > now())
  and (s.payload->>'loginTs')::double precision <= extract(epoch from $1::timestamptz)`;

/** The clients that took part in every live session signed in at or before `by`, each with its account and sid. */
async function participantsOfSessionsSignedInBy(on: Queryable, by: Date) {
  const { rows } = await on.query<{ accountId: string; clientId: string; sid: string }>(
    `select s.payload->>'accountId' as "accountId", a.key as "clientId", a.value->>'sid' as sid
     from oidc_payloads s
     cross join lateral jsonb_each(coalesce(s.payload->'authorizations', '{}'::jsonb)) a
     where ${SIGNED_IN_BY} and a.value->>'sid' is not null`,
    [by],
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
 * Deletes every live session signed in at or before `by`, the grants made in them with every
 * token issued under those, and every refresh token issued at or before `by` (under any grant).
 */
export async function deleteSessionsSignedInBy(on: Queryable, by: Date): Promise<{ sessions: number; refreshTokens: number }> {
  const grants = await on.query<{ id: string }>(
    `select distinct a.value->>'grantId' as id
     from oidc_payloads s cross join lateral jsonb_each(coalesce(s.payload->'authorizations', '{}'::jsonb)) a
     where ${SIGNED_IN_BY} and a.value->>'grantId' is not null`,
    [by],
  );
  const refreshTokens = await on.query(
    `delete from oidc_payloads where model = 'RefreshToken'
     and ((payload->>'iat')::double precision <= extract(epoch from $1::timestamptz) or grant_id = any($2))`,
    [by, grants.rows.map((row) => row.id)],
  );
  await deleteGrants(on, grants.rows.map((row) => row.id));
  const sessions = await on.query(`delete from oidc_payloads s where ${SIGNED_IN_BY}`, [by]);
  return { sessions: sessions.rowCount, refreshTokens: refreshTokens.rowCount };
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

/** The client a sign-in under way (a live interaction) is for; undefined once it has ended or expired. */
export async function liveInteractionClient(on: Queryable, uid: string): Promise<string | undefined> {
  const { rows } = await on.query<{ client_id: string | null }>(
    `select payload->'params'->>'client_id' as client_id from oidc_payloads
     where model = 'Interaction' and id = $1 and (expires_at is null or expires_at > now())`,
    [uid],
  );
  return rows[0]?.client_id ?? undefined;
}

/**
 * The account's live sign-in sessions, newest first, with the device and address of each login:
 * from the account's login entry in the audit log nearest to the session's login time (loginTs is
 * whole seconds, rounded down: nearest to the middle of its second), so that two logins a second
 * or more apart are told apart.
 */
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
       order by abs(extract(epoch from a.at) - (s.payload->>'loginTs')::bigint - 0.5) limit 1) l on true
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
