import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { unstorableInJson, type Db } from '../db/db.js';
import type { ClientStore } from '../clients/clients.js';

interface Row {
  id: string;
  payload: AdapterPayload;
  consumed_recently: boolean;
}

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
      await db.query(
        `insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
         values ($1, $2, $3, $4, $5, $6, case when $7::int > 0 then now() + make_interval(secs => $7::int) end)
         on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
           uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`,
        [this.model, id, json, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null,
          expiresIn > 0 ? expiresIn + (KEPT_AFTER_EXPIRY[this.model] ?? 0) : 0],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableId(id)) return undefined;
      if (this.model === 'Client') return clients.findActiveMetadata(id);
      return this.findWhere('id = $2', id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return isStorableId(uid) ? this.findWhere('uid = $2', uid) : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return isStorableId(userCode) ? this.findWhere('user_code = $2', userCode) : undefined;
    }

    async consume(id: string): Promise<void> {
      const result = await db.query(
        `update oidc_payloads set consumed_at = now(),
           payload = payload || jsonb_build_object('consumed', extract(epoch from now())::bigint)
         where model = $1 and id = $2 and consumed_at is null`,
        [this.model, id],
      );
      if (result.rowCount === 0 && this.model === 'AuthorizationCode') {
        throw new errors.InvalidGrant('authorization code already used');
      }
    }

    async destroy(id: string): Promise<void> {
      await db.query('delete from oidc_payloads where model = $1 and id = $2', [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query('delete from oidc_payloads where grant_id = $1', [grantId]);
    }

    private async findWhere(condition: string, value: string): Promise<AdapterPayload | undefined> {
      const { rows } = await db.query<Row>(
        `select id, payload, consumed_at > now() - make_interval(secs => $3::int) as consumed_recently
         from oidc_payloads
         where model = $1 and ${condition} and (expires_at is null or expires_at > now())`,
        [this.model, value, graceSeconds],
      );
      const row = rows[0];
      if (!row) return undefined;
      if (this.model === 'RefreshToken' && row.consumed_recently && (await this.takeGrace(row.id))) {
        const { consumed: _, ...unused } = row.payload;
        return unused;
      }
      return row.payload;
    }

    /** True for the one caller that gets a recently rotated refresh token's grace use. */
    private async takeGrace(id: string): Promise<boolean> {
      const taken = await db.query(
        "update oidc_payloads set grace_used = true where model = 'RefreshToken' and id = $1 and not grace_used",
        [id],
      );
      return taken.rowCount === 1;
    }
  };
}
