import Provider from 'oidc-provider';
import type { Db, Rows } from '../db/db.js';

/** A statement with $1..$n parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * A write that nothing in the request reads back. It must change one row (a data-modifying
 * statement that can take `returning 1`): when it changes none, the request fails with `refusal`
 * (the interaction was already ended, the refresh token already rotated by a concurrent request)
 * and the statement it went with changes nothing either.
 */
export interface PendingWrite extends Statement {
  refusal?: () => Error;
  /** When it changed nothing: whether the request may go on all the same (and the write it went with is sent alone). */
  excused?: () => Promise<boolean>;
}

/**
 * What the storage keeps for one provider request (oidc-provider's own AsyncLocalStorage
 * context, Provider.ctx), so that a request asks the database less:
 * - `reads`: rows read together with another (a code's grant and session), by model and lookup,
 *   answered from here when the provider asks for them next;
 * - `pending`: writes nothing in the request reads back (an interaction's end, a rotated refresh
 *   token's consumption), sent in front of the request's next write (send) or, failing that,
 *   when the request ends (finishRequest); a read sends them first, on their own;
 * - `marks`: what the request has done that later steps must know (a refresh token's grace use);
 * - `withAccessToken`: writes that hold only if the request issues its access token (a release of
 *   personal data, released-claims.ts): pending once the token is stored (issuingAccessToken),
 *   or as a token response succeeds with a token that is stored nowhere (a JWT for a unit's API);
 *   dropped when the request fails.
 */
export interface RequestState {
  reads: Map<string, unknown>;
  pending: PendingWrite[];
  marks: Set<string>;
  withAccessToken?: PendingWrite[];
  db?: Db;
}

const requests = new WeakMap<object, RequestState>();

/** This request's state; undefined outside a provider request (our own pages, timers, the CLI). */
export function thisRequest(): RequestState | undefined {
  const ctx = (Provider as unknown as { ctx?: object }).ctx;
  if (!ctx) return undefined;
  let state = requests.get(ctx);
  if (!state) requests.set(ctx, (state = { reads: new Map(), pending: [], marks: new Set() }));
  return state;
}

/**
 * A write: `write(guard)` is the statement, which must change nothing unless the SQL condition
 * `guard` holds (an insert ... select ... where guard, an update ... where ... and guard).
 */
export type GuardedWrite = { sql: (guard: string) => string; params: unknown[] };

/**
 * Sends `statement` with this request's pending writes in front of it, in one statement: each a
 * data-modifying WITH query (PostgreSQL runs them all, whatever the main statement reads),
 * parameters renumbered. A guarded write changes nothing unless every pending write changed its
 * row; then the first refusal is thrown. A read gets the pending writes sent before it.
 */
export async function send<T>(db: Db, state: RequestState | undefined, statement: Statement | GuardedWrite): Promise<Rows<T>> {
  const pending = state?.pending ?? [];
  if (pending.length === 0) return db.query<T>(typeof statement.sql === 'string' ? statement.sql : statement.sql('true'), statement.params);
  if (typeof statement.sql === 'string') {
    await sendPending(db, state!);
    return db.query<T>(statement.sql, statement.params);
  }
  state!.pending = [];
  const { ctes, params, guard } = asCtes(pending);
  const main = renumber(statement.sql(guard), params.length);
  const result = await db.query<T>(`with ${ctes} ${main}`, [...params, ...statement.params]);
  if (result.rowCount > 0 || !pending.some((write) => write.refusal)) return result;
  await refuseUnlessExcused(pending);
  return db.query<T>(statement.sql('true'), statement.params);
}

/** The request stores its access token (with `db`): what waited for it is pending now. */
export function issuingAccessToken(state: RequestState, db: Db): void {
  if (!state.withAccessToken?.length) return;
  state.pending.push(...state.withAccessToken);
  state.withAccessToken = undefined;
  state.db = db;
}

/**
 * Sends what this request still has pending (see RequestState): the end of every provider
 * request; `succeeded` when it answers without an error, else what waits for an access token is dropped.
 */
export async function finishRequest(ctx: object, succeeded: boolean, db: Db): Promise<void> {
  const state = requests.get(ctx);
  if (!state) return;
  if (succeeded) issuingAccessToken(state, db);
  state.withAccessToken = undefined;
  if (state.pending.length && state.db) await sendPending(state.db, state);
}

async function sendPending(db: Db, state: RequestState): Promise<void> {
  const pending = state.pending;
  state.pending = [];
  const { ctes, params, guard } = asCtes(pending);
  const { rows } = await db.query<{ changed: boolean }>(`with ${ctes} select ${guard} as changed`, params);
  if (!rows[0]!.changed) await refuseUnlessExcused(pending);
}

function asCtes(pending: PendingWrite[]) {
  const params: unknown[] = [];
  const ctes = pending.map((write, i) => {
    const sql = renumber(write.sql, params.length);
    params.push(...write.params);
    return `pending_${i} as (${sql} returning 1)`;
  });
  const required = pending.flatMap((write, i) => (write.refusal ? [`exists (select 1 from pending_${i})`] : []));
  return { ctes: ctes.join(', '), params, guard: required.length ? required.join(' and ') : 'true' };
}

/** A required pending write changed nothing: its refusal, unless it is excused (one required write only). */
async function refuseUnlessExcused(pending: PendingWrite[]): Promise<void> {
  const required = pending.filter((write) => write.refusal);
  if (required.length === 1 && (await required[0]!.excused?.())) return;
  throw required[0]!.refusal!();
}

const renumber = (sql: string, offset: number) => (offset ? sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`) : sql);
