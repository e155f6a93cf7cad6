import { randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/db.js';
import type { Sealer } from '../secrets.js';

export type TokenPurpose = 'verify_email' | 'reset_password';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Email verification lasts a day; a password reset link half an hour. */
const TTL_MINUTES: Record<TokenPurpose, number> = { verify_email: 24 * 60, reset_password: 30 };
/** Wrong 6-digit codes allowed per token before it stops accepting codes. */
export const MAX_CODE_ATTEMPTS = 5;

export interface IssuedToken {
  id: string;
  token: string;
  /** The 6-digit code, for email verification. */
  code?: string;
}

/**
 * Single-use secrets sent by email. Only keyed hashes are stored; issuing a new one retires the
 * account's earlier ones of the same purpose; redeeming is atomic (one use, even when concurrent).
 */
export function createAccountTokens(sealer: Sealer) {
  const hashToken = (token: string) => sealer.keyedHash('account-token', token);
  const hashCode = (id: string, code: string) => sealer.keyedHash('account-code', `${id}:${code}`);

  return {
    async issue(on: Queryable, citizenId: string, purpose: TokenPurpose): Promise<IssuedToken> {
      const id = randomUUID();
      const token = randomBytes(32).toString('base64url');
      const code = purpose === 'verify_email' ? String(randomInt(0, 1_000_000)).padStart(6, '0') : undefined;
      await on.query(
        `update account_tokens set consumed_at = now()
         where citizen_id = $1 and purpose = $2 and consumed_at is null`,
        [citizenId, purpose],
      );
      await on.query(
        `insert into account_tokens (id, citizen_id, purpose, token_hash, code_hash, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(mins => $6))`,
        [id, citizenId, purpose, hashToken(token), code ? hashCode(id, code) : null, TTL_MINUTES[purpose]],
      );
      return { id, token, ...(code && { code }) };
    },

    /** The account a live token belongs to, without using it (to show the form it opens). */
    async peek(on: Queryable, purpose: TokenPurpose, token: string): Promise<string | undefined> {
      const { rows } = await on.query<{ citizen_id: string }>(
        `select citizen_id from account_tokens
         where token_hash = $1 and purpose = $2 and consumed_at is null and expires_at > now()`,
        [hashToken(token), purpose],
      );
      return rows[0]?.citizen_id;
    },

    /** Uses a token: returns its account once; undefined when unknown, used, retired or expired. */
    async redeem(on: Queryable, purpose: TokenPurpose, token: string): Promise<string | undefined> {
      const { rows } = await on.query<{ citizen_id: string }>(
        `update account_tokens set consumed_at = now()
         where token_hash = $1 and purpose = $2 and consumed_at is null and expires_at > now()
         returning citizen_id`,
        [hashToken(token), purpose],
      );
      return rows[0]?.citizen_id;
    },

    /** Uses the 6-digit code of token `id`; counts wrong tries and stops after MAX_CODE_ATTEMPTS. */
    async redeemCode(on: Queryable, id: string, code: string): Promise<string | undefined> {
      if (!UUID.test(id)) return undefined;
      const { rows } = await on.query<{ citizen_id: string; code_hash: string }>(
        `update account_tokens set attempts = attempts + 1
         where id = $1 and code_hash is not null and consumed_at is null and expires_at > now() and attempts < $2
         returning citizen_id, code_hash`,
        [id, MAX_CODE_ATTEMPTS],
      );
      const row = rows[0];
      if (!row || !/^\d{6}$/.test(code)) return undefined;
      const expected = Buffer.from(row.code_hash);
      const actual = Buffer.from(hashCode(id, code));
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
      const used = await on.query('update account_tokens set consumed_at = now() where id = $1 and consumed_at is null', [id]);
      return used.rowCount === 1 ? row.citizen_id : undefined;
    },
  };
}

export type AccountTokens = ReturnType<typeof createAccountTokens>;
