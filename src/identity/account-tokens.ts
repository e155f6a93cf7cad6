import { randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/db.js';
import type { Sealer } from '../secrets.js';
import { isUuid } from '../ids.js';

export type TokenPurpose = 'verify_email' | 'reset_password' | 'change_email' | 'link_upstream';


/**
 * Email verification lasts a day; a password reset link and an email change half an hour; the code
 * that proves an account is yours, to link a national identity to it, ten minutes.
 */
export const TOKEN_TTL_MINUTES: Record<TokenPurpose, number> = { verify_email: 24 * 60, reset_password: 30, change_email: 30, link_upstream: 10 };
/** The purposes whose email carries a 6-digit code (besides the link, except link_upstream's: a code only). */
const WITH_CODE: TokenPurpose[] = ['verify_email', 'change_email', 'link_upstream'];
/** Wrong 6-digit codes allowed per token before it stops accepting codes. */
export const MAX_CODE_ATTEMPTS = 5;

export interface IssuedToken {
  id: string;
  token: string;
  /** The 6-digit code, for email verification and email changes. */
  code?: string;
}

/** A used token: its account and, for an email change, the address it proved. */
export interface RedeemedToken {
  citizenId: string;
  newEmail: string | null;
}

/**
 * Single-use secrets sent by email. Only keyed hashes are stored; issuing a new one retires the
 * account's earlier ones of the same purpose; redeeming is atomic (one use, even when concurrent).
 */
export function createAccountTokens(sealer: Sealer) {
  const hashToken = (token: string) => sealer.keyedHash('account-token', token);
  const hashCode = (id: string, code: string) => sealer.keyedHash('account-code', `${id}:${code}`);

  /** Uses a token by its link: once; undefined when unknown, used, retired or expired. */
  async function claim(on: Queryable, purpose: TokenPurpose, token: string): Promise<RedeemedToken | undefined> {
    const { rows } = await on.query<RedeemedToken>(
      `update account_tokens set consumed_at = now()
       where token_hash = $1 and purpose = $2 and consumed_at is null and expires_at > now()
       returning citizen_id as "citizenId", new_email as "newEmail"`,
      [hashToken(token), purpose],
    );
    return rows[0];
  }

  /** Uses the 6-digit code of token `id`; counts wrong tries and stops after MAX_CODE_ATTEMPTS. */
  async function claimCode(on: Queryable, purpose: TokenPurpose, id: string, code: string): Promise<RedeemedToken | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await on.query<RedeemedToken & { code_hash: string }>(
      `update account_tokens set attempts = attempts + 1
       where id = $1 and purpose = $2 and code_hash is not null and consumed_at is null and expires_at > now() and attempts < $3
       returning citizen_id as "citizenId", new_email as "newEmail", code_hash`,
      [id, purpose, MAX_CODE_ATTEMPTS],
    );
    const row = rows[0];
    if (!row || !/^\d{6}$/.test(code)) return undefined;
    const expected = Buffer.from(row.code_hash);
    const actual = Buffer.from(hashCode(id, code));
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    const used = await on.query('update account_tokens set consumed_at = now() where id = $1 and consumed_at is null', [id]);
    return used.rowCount === 1 ? { citizenId: row.citizenId, newEmail: row.newEmail } : undefined;
  }

  return {
    claim,
    claimCode,

    /** Issues a token (for change_email, with the new address it is to prove). */
    async issue(on: Queryable, citizenId: string, purpose: TokenPurpose, newEmail?: string): Promise<IssuedToken> {
      const id = randomUUID();
      const token = randomBytes(32).toString('base64url');
      const code = WITH_CODE.includes(purpose) ? String(randomInt(0, 1_000_000)).padStart(6, '0') : undefined;
      await on.query(
        `update account_tokens set consumed_at = now()
         where citizen_id = $1 and purpose = $2 and consumed_at is null`,
        [citizenId, purpose],
      );
      await on.query(
        `insert into account_tokens (id, citizen_id, purpose, token_hash, code_hash, expires_at, new_email)
         values ($1, $2, $3, $4, $5, now() + make_interval(mins => $6), $7)`,
        [id, citizenId, purpose, hashToken(token), code ? hashCode(id, code) : null, TOKEN_TTL_MINUTES[purpose], newEmail ?? null],
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

    /** The account's live token of this purpose (issuing retires the earlier ones), with the address it is for. */
    async live(on: Queryable, citizenId: string, purpose: TokenPurpose): Promise<{ id: string; newEmail: string | null } | undefined> {
      const { rows } = await on.query<{ id: string; newEmail: string | null }>(
        `select id, new_email as "newEmail" from account_tokens
         where citizen_id = $1 and purpose = $2 and consumed_at is null and expires_at > now()
         order by created_at desc limit 1`,
        [citizenId, purpose],
      );
      return rows[0];
    },

    /** Deletes at most `limit` tokens expired over a day ago (the retention job); returns how many. */
    async sweep(on: Queryable, limit: number): Promise<number> {
      const { rowCount } = await on.query(
        "delete from account_tokens where ctid = any(array(select ctid from account_tokens where expires_at < now() - interval '1 day' limit $1))",
        [limit],
      );
      return rowCount;
    },

    /** Retires the account's live tokens of this purpose. */
    async retire(on: Queryable, citizenId: string, purpose: TokenPurpose): Promise<void> {
      await on.query('update account_tokens set consumed_at = now() where citizen_id = $1 and purpose = $2 and consumed_at is null', [
        citizenId,
        purpose,
      ]);
    },

    /** Uses a token: returns its account once; undefined when unknown, used, retired or expired. */
    async redeem(on: Queryable, purpose: TokenPurpose, token: string): Promise<string | undefined> {
      return (await claim(on, purpose, token))?.citizenId;
    },

    /** Uses the 6-digit email-verification code of token `id` (see claimCode). */
    async redeemCode(on: Queryable, id: string, code: string): Promise<string | undefined> {
      return (await claimCode(on, 'verify_email', id, code))?.citizenId;
    },
  };
}

export type AccountTokens = ReturnType<typeof createAccountTokens>;
