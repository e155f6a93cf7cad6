import type { Db, Queryable } from '../db/db.js';
import { backchannelLogoutUris } from '../clients/clients.js';
import { sessionParticipants } from './payloads.js';

/*
 * The back-channel logout outbox (migrations/011_logout_outbox.sql): one row per relying party
 * and ended session. Apart from the delivery (logout.ts) so that the code that ends sessions in
 * the database (account-sessions.ts) does not load oidc-provider.
 */

/** Seconds to wait after each failed attempt; after the last one the delivery is given up (about a day in all). */
export const RETRY_DELAYS = [5, 15, 60, 5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60, 6 * 60 * 60, 12 * 60 * 60] as const;
/** A claimed row is not picked again by another process for this long (an attempt times out after 2.5 s). */
const LEASE_SECONDS = 60;
const BATCH = 20;

export interface LogoutDelivery {
  id: number;
  clientId: string;
  accountId: string;
  sid: string;
  attempts: number;
}

/** An attempt's outcome, with the URI it went to (unknown when the client could not be read). */
export type AttemptResult =
  | { outcome: 'delivered'; uri: string }
  /** Retried later, or given up once the retries are spent. */
  | { outcome: 'failed'; uri: string | undefined; error: string }
  /** Not retried: refused by the outbound allowlist, or the client is gone. */
  | { outcome: 'abandoned'; uri: string | undefined; error: string };

/**
 * Queues a logout for every client that took part in the account's live sessions (or in the one
 * session named, or only for the client named) and registered a backchannel_logout_uri. Call it
 * in the transaction that deletes the sessions (or the client's part in them), before it does:
 * their authorizations name the clients and the sid of each.
 */
export async function enqueueSessionLogouts(on: Queryable, accountId: string, only: { sessionId?: string; clientId?: string } = {}): Promise<void> {
  const participants = await sessionParticipants(on, accountId, only);
  if (participants.length === 0) return;
  const uris = await backchannelLogoutUris(on, [...new Set(participants.map((p) => p.clientId))]);
  const due = participants.filter((p) => uris.has(p.clientId));
  if (due.length === 0) return;
  await on.query(
    `insert into logout_outbox (client_id, uri, account_id, sid)
     select client_id, uri, $3, sid from unnest($1::text[], $2::text[], $4::text[]) as t(client_id, uri, sid)
     on conflict (client_id, sid) do nothing`,
    [due.map((p) => p.clientId), due.map((p) => uris.get(p.clientId)!), accountId, due.map((p) => p.sid)],
  );
}

export function createLogoutOutbox(db: Db) {
  return {
    /**
     * Records the provider's own first attempt at an RP-initiated logout (/session/end): done,
     * abandoned, or due again after the first delay.
     */
    async recordFirstAttempt(delivery: { clientId: string; accountId: string; sid: string }, result: AttemptResult): Promise<void> {
      await db.query(
        `insert into logout_outbox (client_id, uri, account_id, sid, attempts, next_attempt_at, delivered_at, failed_at, last_error)
         values ($1, $2, $3, $4, 1, now() + make_interval(secs => $5), $6, $7, $8)
         on conflict (client_id, sid) do nothing`,
        [
          delivery.clientId,
          result.uri ?? '',
          delivery.accountId,
          delivery.sid,
          RETRY_DELAYS[0],
          result.outcome === 'delivered' ? new Date() : null,
          result.outcome === 'abandoned' ? new Date() : null,
          result.outcome === 'delivered' ? null : result.error,
        ],
      );
    },

    /** Claims the deliveries due at `now` (skip locked: each goes to one process), counting the attempt. */
    async claimDue(now: Date): Promise<LogoutDelivery[]> {
      const { rows } = await db.query<LogoutDelivery>(
        `update logout_outbox set next_attempt_at = $1::timestamptz + make_interval(secs => ${LEASE_SECONDS}), attempts = attempts + 1
         where id in (select id from logout_outbox
                      where delivered_at is null and failed_at is null and next_attempt_at <= $1
                      order by next_attempt_at limit ${BATCH} for update skip locked)
         returning id, client_id as "clientId", account_id as "accountId", sid, attempts`,
        [now],
      );
      return rows;
    },

    /** Records an attempt: delivered, abandoned, or failed (due again after the next delay, or given up). */
    async recordAttempt(delivery: LogoutDelivery, result: AttemptResult, now: Date): Promise<void> {
      const delay = RETRY_DELAYS[delivery.attempts - 1];
      const done = result.outcome === 'delivered';
      const givenUp = result.outcome === 'abandoned' || delay === undefined;
      await db.query(
        `update logout_outbox set uri = coalesce($2::text, uri), last_error = $3::text,
           delivered_at = case when $4::boolean then now() end,
           failed_at = case when $5::boolean then now() end,
           next_attempt_at = $6::timestamptz + make_interval(secs => $7)
         where id = $1`,
        [delivery.id, result.uri ?? null, done ? null : result.error, done, !done && givenUp, now, delay ?? 0],
      );
    },

    /** Deletes what was delivered or given up a month ago. */
    async sweep(): Promise<void> {
      await db.query("delete from logout_outbox where coalesce(delivered_at, failed_at) < now() - interval '30 days'");
    },
  };
}

export type LogoutOutbox = ReturnType<typeof createLogoutOutbox>;
