import Provider from 'oidc-provider';
import type { Db } from '../db/db.js';

/** A statement with $1..$n parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * What the storage keeps for one provider request (oidc-provider's own AsyncLocalStorage
 * context, Provider.ctx), so that a request asks the database less:
 * - `reads`: rows read together with another (a code's grant and session), by model and lookup,
 *   answered from here when the provider asks for them next;
 * - `pending`: single-row writes that nothing in the request reads back (an interaction's end, a
 *   rotated refresh token's consumption), sent with the request's next write or, failing that,
 *   when the request ends (finishRequest). A read the `reads` cannot answer sends them first.
 */
export interface RequestState {
  reads: Map<string, unknown>;
  pending: Statement[];
  db?: Db;
}

const requests = new WeakMap<object, RequestState>();

/** This request's state; undefined outside a provider request (our own pages, timers, the CLI). */
export function thisRequest(): RequestState | undefined {
  const ctx = (Provider as unknown as { ctx?: object }).ctx;
  if (!ctx) return undefined;
  let state = requests.get(ctx);
  if (!state) requests.set(ctx, (state = { reads: new Map(), pending: [] }));
  return state;
}

/**
 * `statement` with the pending writes before it, in one statement: each a data-modifying WITH
 * query (PostgreSQL runs them all, whatever the main statement reads), parameters renumbered.
 * The pending writes are taken: the caller sends the result.
 */
export function withPending(state: RequestState | undefined, statement: Statement): Statement {
  if (!state?.pending.length) return statement;
  const params: unknown[] = [];
  const renumbered = (s: Statement) => {
    const offset = params.length;
    params.push(...s.params);
    return s.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  };
  const ctes = state.pending.map((s, i) => `pending_${i} as (${renumbered(s)})`);
  state.pending = [];
  return { sql: `with ${ctes.join(', ')} ${renumbered(statement)}`, params };
}

/** Sends what this request still has pending (see RequestState): the end of every provider request. */
export async function finishRequest(ctx: object): Promise<void> {
  const state = requests.get(ctx);
  if (!state?.pending.length || !state.db) return;
  const { sql, params } = withPending(state, { sql: 'select 1', params: [] });
  await state.db.query(sql, params);
}
