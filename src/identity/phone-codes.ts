import { randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import type { Lang } from '../i18n.js';
import type { Channel, MessageOutbox } from '../messaging/outbox.js';
import { codeText } from '../messaging/texts.js';
import type { Sealer } from '../secrets.js';
import { isUuid } from '../ids.js';
import { maskPhone } from './phone.js';
import type { Throttle } from './throttle.js';

export type PhoneCodePurpose = 'verify_phone' | 'sign_in' | 'reset_password' | 'change_phone' | 'link_upstream';

/** A code lives 5 minutes and takes 5 tries; another may be asked for a minute after the last. */
export const PHONE_CODE_MINUTES = 5;
export const PHONE_CODE_TRIES = 5;
export const PHONE_CODE_RESEND_SECONDS = 60;
/**
 * Codes per number: 3 in 10 minutes, 10 a day. Every message costs the city money, and SMS
 * pumping (fraudsters making a service text premium numbers they are paid for) is stopped by
 * limits per number, per address (IP_LIMIT_MESSAGE, an IPv6 client by its /64) and a daily budget
 * for the whole instance (MESSAGE_DAILY_BUDGET).
 */
export const PHONE_CODES_PER_10_MINUTES = 3;
export const PHONE_CODES_PER_DAY = 10;

/** Who asks for a code, and in which language the message is written. */
export interface CodeRequest {
  phone: string;
  /** The account the number belongs to for this purpose; undefined: nobody, and nothing is sent. */
  citizenId: string | undefined;
  purpose: PhoneCodePurpose;
  channel: Channel;
  lang: Lang;
  ip: string;
}

/**
 * The answer to a request for a code, the same whether or not the number belongs to an account:
 * `codeId` names the code the next form checks (a code for an unknown number exists but was sent
 * to nobody, so no code passes it).
 */
export type CodeSent =
  | { outcome: 'sent'; codeId: string }
  /** Too soon after the last one: that one stays good. */
  | { outcome: 'wait'; codeId: string | undefined; retryAfterSeconds: number }
  /** A limit of the number, the address or the instance was reached. */
  | { outcome: 'refused'; retryAfterSeconds: number };

/** A code that passed: the account and number it proves. */
export interface CheckedCode {
  citizenId: string;
  phone: string;
  channel: Channel;
}

interface Deps {
  db: Db;
  sealer: Sealer;
  messages: MessageOutbox;
  audit: Audit;
  throttle: Throttle;
  /** Messages the whole instance sends a day at most. */
  dailyBudget: number;
  /** Hears of each request refused by a limit (the metrics count them). */
  refused: (channel: Channel) => void;
}

/**
 * One-time codes sent by WhatsApp or SMS: 6 digits, stored as a keyed hash, valid
 * PHONE_CODE_MINUTES, PHONE_CODE_TRIES tries, single use. Asking for a code answers alike and
 * does the same work for a known and an unknown number, so that the answer does not tell which
 * numbers have an account.
 */
export function createPhoneCodes({ db, sealer, messages, audit, throttle, dailyBudget, refused }: Deps) {
  const hashCode = (id: string, code: string) => sealer.keyedHash('phone-code', `${id}:${code}`);

  /**
   * Seconds to wait before this number may get another code: `resend` after the last one of this
   * purpose, `limit` under the limits of the number (every purpose counts); and the newest live
   * code of this purpose for the same account (never another's: its code would verify for that one).
   */
  async function numberWait(tx: Queryable, phone: string, purpose: PhoneCodePurpose, citizenId: string | undefined) {
    // One request per number at a time: parallel requests are judged one after the other.
    await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`phone-code:${phone}`]);
    const { rows } = await tx.query<{ resend: number; limit: number; live: string | null }>(
      `select
         coalesce(ceil(extract(epoch from max(created_at) filter (where purpose = $5) + make_interval(secs => $2) - now())), 0)::int as resend,
         greatest(
           coalesce(ceil(extract(epoch from (array_agg(created_at order by created_at desc) filter (where created_at > now() - interval '10 minutes'))[$3] + interval '10 minutes' - now())), 0),
           coalesce(ceil(extract(epoch from (array_agg(created_at order by created_at desc))[$4] + interval '1 day' - now())), 0))::int as limit,
         (array_agg(id order by created_at desc) filter (
           where purpose = $5 and consumed_at is null and expires_at > now() and citizen_id is not distinct from $6::uuid))[1] as live
       from phone_codes where phone = $1 and created_at > now() - interval '1 day'`,
      [phone, PHONE_CODE_RESEND_SECONDS, PHONE_CODES_PER_10_MINUTES, PHONE_CODES_PER_DAY, purpose, citizenId ?? null],
    );
    return rows[0]!;
  }

  return {
    /**
     * Sends a code (in the caller's transaction when given, so that it goes with the change it
     * belongs to), unless a limit says no. Earlier codes of this number and purpose stop working.
     */
    async send(request: CodeRequest, on?: Queryable): Promise<CodeSent> {
      const { phone, citizenId, purpose, channel, lang, ip } = request;
      const details = { purpose, channel, phone: maskPhone(phone) };
      const run = async (tx: Queryable): Promise<CodeSent> => {
        const address = await throttle.ipAttempt('message', ip, tx);
        if (!address.allowed) {
          refused(channel);
          await audit({ type: 'phone.code_refused', citizenId, ip, details: { ...details, limit: 'ip' } }, tx);
          return { outcome: 'refused', retryAfterSeconds: address.retryAfterSeconds };
        }
        const wait = await numberWait(tx, phone, purpose, citizenId);
        if (wait.limit > 0) {
          refused(channel);
          await audit({ type: 'phone.code_refused', citizenId, ip, details: { ...details, limit: 'number' } }, tx);
          return { outcome: 'refused', retryAfterSeconds: wait.limit };
        }
        if (wait.resend > 0) return { outcome: 'wait', codeId: wait.live ?? undefined, retryAfterSeconds: wait.resend };
        if ((await messages.codesToday(tx)) >= dailyBudget) {
          refused(channel);
          await audit({ type: 'phone.code_refused', citizenId, ip, details: { ...details, limit: 'budget' } }, tx);
          return { outcome: 'refused', retryAfterSeconds: 3600 };
        }
        const id = randomUUID();
        const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
        await tx.query('update phone_codes set consumed_at = now() where phone = $1 and purpose = $2 and consumed_at is null', [phone, purpose]);
        await tx.query(
          `insert into phone_codes (id, phone, citizen_id, purpose, channel, code_hash, expires_at)
           values ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7))`,
          [id, phone, citizenId ?? null, purpose, channel, hashCode(id, code), PHONE_CODE_MINUTES],
        );
        if (citizenId) {
          const expiresAt = new Date(Date.now() + PHONE_CODE_MINUTES * 60_000);
          await messages.enqueue({ to: phone, channel, kind: 'code', code, codeId: id, body: codeText(lang, purpose, code, PHONE_CODE_MINUTES), expiresAt }, tx);
        }
        await audit({ type: 'phone.code_sent', citizenId, ip, details: { ...details, known: citizenId !== undefined } }, tx);
        return { outcome: 'sent', codeId: id };
      };
      return on ? run(on) : db.transaction(run);
    },

    /**
     * Uses code `code` of `codeId` for `purpose`: once; every try counts, and after
     * PHONE_CODE_TRIES the code takes no more. Undefined when it does not pass.
     */
    async check(codeId: string, code: string, purpose: PhoneCodePurpose, on: Queryable = db): Promise<CheckedCode | undefined> {
      if (!isUuid(codeId)) return undefined;
      const { rows } = await on.query<{ citizen_id: string | null; phone: string; channel: Channel; code_hash: string }>(
        `update phone_codes set attempts = attempts + 1
         where id = $1 and purpose = $2 and consumed_at is null and expires_at > now() and attempts < $3
         returning citizen_id, phone, channel, code_hash`,
        [codeId, purpose, PHONE_CODE_TRIES],
      );
      const row = rows[0];
      const typed = code.replace(/[\s-]/g, '');
      if (!row || !/^\d{6}$/.test(typed)) return undefined;
      const expected = Buffer.from(row.code_hash);
      const actual = Buffer.from(hashCode(codeId, typed));
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual) || !row.citizen_id) return undefined;
      const used = await on.query('update phone_codes set consumed_at = now() where id = $1 and consumed_at is null', [codeId]);
      if (used.rowCount !== 1) return undefined;
      // The channel that brought the code: the other one when the first failed.
      return { citizenId: row.citizen_id, phone: row.phone, channel: (await messages.sentChannel(codeId, on)) ?? row.channel };
    },

    /**
     * Ends every live code of the account, whatever its purpose: when its number changes, a code
     * sent to the former number must not sign in or reset the password any more.
     */
    async retire(citizenId: string, on: Queryable = db): Promise<void> {
      await on.query('update phone_codes set consumed_at = now() where citizen_id = $1 and consumed_at is null', [citizenId]);
    },

    /** Deletes at most `limit` codes that expired over a day ago (the limits per number count a day's codes); returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        "delete from phone_codes where ctid = any(array(select ctid from phone_codes where expires_at < now() - interval '1 day' limit $1))",
        [limit],
      );
      return rowCount;
    },

    /** The number and channel a live code was sent to (for its form), or undefined. */
    async pending(codeId: string): Promise<{ phone: string; channel: Channel } | undefined> {
      if (!isUuid(codeId)) return undefined;
      const { rows } = await db.query<{ phone: string; channel: Channel }>(
        'select phone, channel from phone_codes where id = $1 and consumed_at is null and expires_at > now()',
        [codeId],
      );
      return rows[0];
    },
  };
}

export type PhoneCodes = ReturnType<typeof createPhoneCodes>;
