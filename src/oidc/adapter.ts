import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { unstorableInJson, type Db } from '../db/db.js';
import type { ClientStore } from '../clients/clients.js';
import { issuingAccessToken, send, thisRequest, type PendingWrite, type RequestState } from './request-state.js';

interface Row {
  id: string;
  payload: AdapterPayload;
  consumed_recently: boolean;
  /** A token's or code's grant and session, read with it (RELATED); an interaction's remembered grant. */
  grant_id?: string | null;
  grant_payload?: AdapterPayload | null;
  session_payload?: AdapterPayload | null;
}

/**
 * The models whose grant and session the provider reads right after it (a code at the token
 * endpoint, a token at userinfo or at a refresh): one statement reads all three.
 */
const RELATED = new Set(['AuthorizationCode', 'AccessToken', 'RefreshToken']);
/** Marks a row consumed (the statement's where clause follows). */
const CONSUME = `update oidc_payloads set consumed_at = now(),
  payload = payload || jsonb_build_object('consumed', extract(epoch from now())::bigint)`;
const LIVE = (alias: string) => `(${alias}.expires_at is null or ${alias}.expires_at > now())`;

const readKey = (model: string, by: 'id' | 'uid', value: string) => `${model} ${by} ${value}`;
/** A refresh token whose grace use this request took: its second consumption is expected. */
const graceMark = (id: string) => `grace ${id}`;
/** The remembered grant of an account and a client (rememberedGrantId), as read with an interaction. */
const rememberedKey = (accountId: string, clientId: string) => `remembered ${accountId} ${clientId}`;

/**
 * The live grant an account last gave a client (rememberedGrantId), as a lateral subquery whose
 * account and client are SQL expressions.
 */
const rememberedGrant = (accountId: string, clientId: string) => `
  select id, payload from oidc_payloads g
  where g.model = 'Grant' and g.payload->>'accountId' = ${accountId} and g.payload->>'clientId' = ${clientId} and ${LIVE('g')}
  order by (g.payload->>'iat')::bigint desc limit 1`;

/**
 * Every id the provider stores (tokens, codes, sessions, uids, client_ids) is printable ASCII; a
 * lookup by anything else (NUL, other control characters, unicode, a megabyte) finds nothing
 * without asking the database, which would refuse some of it with an error, not an answer.
 */
export const isStorableId = (id: unknown): id is string => typeof id === 'string' && /^[\x21-\x7e]{1,512}$/.test(id);

/**
 * Models kept this many seconds after they expire, so that the provider, which checks their own
 * exp and asks for expired ones on purpose, can say "expired" rather than "unknown" (the row's
 * expires_at only decides when it is swept): a counter's request (CIBA), whose poll then hears
 * expired_token; a kiosk's device code (RFC 8628), whose user-code page then says expired and
 * whose poll hears expired_token.
 */
const KEPT_AFTER_EXPIRY: Record<string, number> = { BackchannelAuthenticationRequest: 10 * 60, DeviceCode: 60 * 60 };

/**
 * oidc-provider's storage: every model in oidc_payloads, except Client, which reads the clients
 * table (only active clients exist for the provider, so a suspension applies to the next request).
 *
 * Refresh-token rotation: a rotated refresh token used again is reuse, and the provider then
 * revokes the whole grant. A token rotated less than `graceSeconds` ago is served as unused once
 * more, so that two concurrent refreshes (two tabs, a retry after a lost response) do not end the
 * grant; the window counts from the first rotation and is not renewed.
 *
 * Consuming is atomic: of two concurrent redemptions of one authorization code only one succeeds.
 *
 * A code or token is read with its grant and session in one statement (RELATED); the provider's
 * next lookups of those in the same request are answered from what was read.
 */
export function createAdapterFactory(db: Db, clients: ClientStore, graceSeconds: number) {
  return class PostgresAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.model === 'Client') throw new Error('clients are managed through the clients table');
      // Request parameters end up in payloads (state, nonce, login_hint...): one PostgreSQL's
      // jsonb cannot hold (NUL, a lone surrogate) is the request's fault, not the server's.
      const json = JSON.stringify(payload);
      if (unstorableInJson(json)) throw new errors.InvalidRequest('a parameter holds a character that cannot be stored');
      const request = thisRequest();
      request?.reads.clear();
      if (request && this.model === 'AccessToken') issuingAccessToken(request, db);
      const params = [this.model, id, json, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null,
        expiresIn > 0 ? expiresIn + (KEPT_AFTER_EXPIRY[this.model] ?? 0) : 0];
      // An interaction with a result exists already (the login step read it): if it has ended
      // meanwhile (a concurrent resume), it is not made again.
      if (this.model === 'Interaction' && payload.result) {
        const updated = await send(db, request, {
          sql: (guard) => `update oidc_payloads set payload = $3::jsonb, grant_id = $4, uid = $5, user_code = $6,
                             expires_at = case when $7::int > 0 then now() + make_interval(secs => $7::int) end
                           where model = $1 and id = $2 and ${guard}`,
          params,
        });
        if (updated.rowCount === 0) throw new errors.SessionNotFound('interaction session not found');
        return;
      }
      await send(db, request, {
        sql: (guard) => `insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
              select $1::text, $2::text, $3::jsonb, $4::text, $5::text, $6::text,
                case when $7::int > 0 then now() + make_interval(secs => $7::int) end
              where ${guard}
              on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
                uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`,
        params,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableId(id)) return undefined;
      if (this.model === 'Client') return clients.findActiveMetadata(id);
      return this.findWhere('id', id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return isStorableId(uid) ? this.findWhere('uid', uid) : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return isStorableId(userCode) ? this.findWhere('user_code', userCode) : undefined;
    }

    /**
     * An authorization code is consumed at once, and only once (the second redemption fails). A
     * refresh token is rotated: the provider consumes it and stores its successor right after, in
     * the same request, and the two are written in one statement (a pending write). Of two
     * concurrent rotations of one token, the one that finds it rotated goes on as the grace use
     * (like a refresh just after a rotation, findWhere); past that, invalid_grant.
     */
    async consume(id: string): Promise<void> {
      const request = thisRequest();
      const consume = { sql: `${CONSUME} where model = $1 and id = $2 and consumed_at is null`, params: [this.model, id] };
      if (this.model === 'RefreshToken' && request) {
        if (request.marks.has(graceMark(id))) return this.pend(request, consume);
        // Rotated meanwhile by a concurrent request: this one is that rotation's grace use, if it is still to be had.
        return this.pend(request, { ...consume, refusal: () => new errors.InvalidGrant('refresh token already used'), excused: () => this.takeGrace(id) });
      }
      request?.reads.clear();
      const result = await send(db, request, consume);
      if (result.rowCount === 0 && this.model === 'AuthorizationCode') {
        throw new errors.InvalidGrant('authorization code already used');
      }
    }

    /**
     * An interaction ends as its login resumes (the provider reads it no more): deleted in front
     * of the request's next statement, or as the request ends. Of two concurrent resumes of one
     * interaction only one goes on (the other: the interaction is not found).
     */
    async destroy(id: string): Promise<void> {
      const request = thisRequest();
      const destroy = { sql: 'delete from oidc_payloads where model = $1 and id = $2', params: [this.model, id] };
      if (this.model === 'Interaction' && request) {
        request.reads.set(readKey(this.model, 'id', id), undefined);
        return this.pend(request, { ...destroy, refusal: () => new errors.SessionNotFound('interaction session not found') });
      }
      request?.reads.clear();
      await send(db, request, destroy);
    }

    /**
     * Every artifact of the grant, whichever model the provider calls it for: it calls it only for
     * the kinds of token the client that revokes may hold, while the grant's tokens may be another
     * client's. An interaction under way keeps its row: a logout that revokes the grant it started
     * from (a login as another account in this browser ends the first account's session) resumes
     * it afterwards.
     */
    async revokeByGrantId(grantId: string): Promise<void> {
      const request = thisRequest();
      request?.reads.clear();
      await send(db, request, { sql: "delete from oidc_payloads where grant_id = $1 and model <> 'Interaction'", params: [grantId] });
    }

    /** A write nothing in this request reads back: what was read stays good (see RequestState). */
    private pend(request: RequestState, write: PendingWrite): void {
      request.pending.push(write);
      request.db = db;
    }

    private async findWhere(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      const request = thisRequest();
      const key = column === 'user_code' ? undefined : readKey(this.model, column, value);
      // A copy: the provider's models may change what they were made from.
      if (key && request?.reads.has(key)) return structuredClone(request.reads.get(key) as AdapterPayload | undefined);
      const related = RELATED.has(this.model);
      const interaction = this.model === 'Interaction';
      const { rows } = await send<Row>(db, request, {
        sql: related
          ? `select t.id, t.payload, t.consumed_at > now() - make_interval(secs => $3::int) as consumed_recently,
               g.payload as grant_payload, s.payload as session_payload
             from oidc_payloads t
             left join oidc_payloads g on g.model = 'Grant' and g.id = t.grant_id and ${LIVE('g')}
             left join oidc_payloads s on s.model = 'Session' and s.uid = t.payload->>'sessionUid' and ${LIVE('s')}
             where t.model = $1 and t.${column} = $2 and ${LIVE('t')}`
          : interaction
            // A finished login's interaction, read as it resumes, with the grant the provider loads next.
            ? `select t.id, t.payload, false as consumed_recently, g.id as grant_id, g.payload as grant_payload
               from oidc_payloads t
               left join lateral (${rememberedGrant("t.payload->'result'->'login'->>'accountId'", "t.payload->'params'->>'client_id'")}) g on true
               where t.model = $1 and t.${column} = $2 and ${LIVE('t')}`
            : `select id, payload, consumed_at > now() - make_interval(secs => $3::int) as consumed_recently
               from oidc_payloads t
               where model = $1 and ${column} = $2 and ${LIVE('t')}`,
        params: interaction ? [this.model, value] : [this.model, value, graceSeconds],
      });
      const row = rows[0];
      if (row && request) this.keepRelated(request.reads, row);
      if (!row) return undefined;
      if (this.model === 'RefreshToken' && row.consumed_recently && (await this.takeGrace(row.id))) {
        request?.marks.add(graceMark(row.id));
        const { consumed: _, ...unused } = row.payload;
        return unused;
      }
      return row.payload;
    }

    /** What was read with a row, for the provider's next lookups in this request. */
    private keepRelated(reads: Map<string, unknown>, row: Row): void {
      const { payload } = row;
      if (RELATED.has(this.model)) {
        if (typeof payload.grantId === 'string') reads.set(readKey('Grant', 'id', payload.grantId), row.grant_payload ?? undefined);
        if (typeof payload.sessionUid === 'string') reads.set(readKey('Session', 'uid', payload.sessionUid), row.session_payload ?? undefined);
      }
      const login = (payload.result as { login?: { accountId?: unknown } } | undefined)?.login;
      const clientId = (payload.params as { client_id?: unknown } | undefined)?.client_id;
      if (this.model === 'Interaction' && typeof login?.accountId === 'string' && typeof clientId === 'string') {
        reads.set(rememberedKey(login.accountId, clientId), row.grant_id ?? undefined);
        if (row.grant_id) reads.set(readKey('Grant', 'id', row.grant_id), row.grant_payload);
      }
    }

    /** True for the one caller that gets a recently rotated refresh token's grace use. */
    private async takeGrace(id: string): Promise<boolean> {
      const taken = await db.query(
        `update oidc_payloads set grace_used = true
         where model = 'RefreshToken' and id = $1 and not grace_used and consumed_at > now() - make_interval(secs => $2::int)`,
        [id, graceSeconds],
      );
      return taken.rowCount === 1;
    }
  };
}

/**
 * The live grant an account last gave a client, from any session: a consent is remembered across
 * logins until the citizen revokes it (or it expires), not only for the session it was given in.
 * Read whole (or with the interaction being resumed), so that the provider's Grant.find of it in
 * this request asks the database no more.
 */
export async function rememberedGrantId(db: Db, accountId: string, clientId: string): Promise<string | undefined> {
  const request = thisRequest();
  const key = rememberedKey(accountId, clientId);
  if (request?.reads.has(key)) return request.reads.get(key) as string | undefined;
  const { rows } = await send(db, request, { sql: rememberedGrant('$1', '$2'), params: [accountId, clientId] });
  const row = rows[0] as { id: string; payload: AdapterPayload } | undefined;
  if (row) request?.reads.set(readKey('Grant', 'id', row.id), row.payload);
  return row?.id;
}
