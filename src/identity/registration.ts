import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { registrationAttemptEmail, verificationEmail } from '../email/messages.js';
import { TOKEN_TTL_MINUTES, type AccountTokens } from './account-tokens.js';
import type { CitizenNotices } from './citizen-notices.js';
import type { Citizen, CitizenStore, NewCitizen } from './citizens.js';
import type { Lang } from '../i18n.js';
import type { Channel } from '../messaging/outbox.js';
import type { CodeSent, PhoneCodes } from './phone-codes.js';
import type { AccountSessions } from './sessions.js';
import { emailWait } from './throttle.js';

/** What the emailed-token flows (registration, password reset) work with. */
export interface AccountFlowDeps {
  db: Db;
  issuer: string;
  citizens: CitizenStore;
  sessions: AccountSessions;
  tokens: AccountTokens;
  outbox: Outbox;
  phoneCodes: PhoneCodes;
  /** Security notices: by email, or to the verified phone of an account without one. */
  notices: CitizenNotices;
  audit: Audit;
}

/** Where a phone code goes and in which language, and who asked for it. */
export interface CodeDelivery {
  channel: Channel;
  lang: Lang;
  ip: string;
}

/**
 * Self-registration and the verification of its email or phone. An account is created with its
 * email's verification token and email, and its phone's code and message, in one transaction; it
 * can sign in once the email or the phone is verified (the email by link or code, the phone by code).
 */
export function createRegistration({ db, issuer, citizens, tokens, outbox, phoneCodes, audit }: AccountFlowDeps) {
  /** Issues a fresh verification token and queues its email; returns the token id (for the code form). */
  async function sendVerification(on: Queryable, citizen: Citizen & { email: string }): Promise<string> {
    const issued = await tokens.issue(on, citizen.id, 'verify_email');
    const link = `${issuer}/verifikasi?token=${encodeURIComponent(issued.token)}`;
    await outbox.enqueue(verificationEmail(citizen.email, citizen.name, link, issued.code!, TOKEN_TTL_MINUTES.verify_email), on);
    await audit({ type: 'email.verification_sent', citizenId: citizen.id }, on);
    return issued.id;
  }

  /**
   * A new link and code for an account whose email is not verified yet, unless one went out too
   * recently (emailWait): then no email, the seconds to wait, and the newest token, still good.
   */
  async function sendVerificationAgain(citizenId: string): Promise<{ tokenId: string; waitSeconds: number } | undefined> {
    return db.transaction(async (tx) => {
      const citizen = await citizens.findById(citizenId, tx);
      if (!citizen?.email || citizen.email_verified) return undefined;
      const waitSeconds = await emailWait(tx, citizen.id, 'verify_email');
      if (waitSeconds === 0) return { tokenId: await sendVerification(tx, { ...citizen, email: citizen.email }), waitSeconds };
      const { rows } = await tx.query<{ id: string }>(
        `select id from account_tokens
         where citizen_id = $1 and purpose = 'verify_email' and consumed_at is null and expires_at > now()
         order by created_at desc limit 1`,
        [citizen.id],
      );
      return rows[0] && { tokenId: rows[0].id, waitSeconds };
    });
  }

  /** A code to the account's unverified phone (a verified one needs none). */
  async function sendPhoneVerification(citizen: Citizen, delivery: CodeDelivery, on?: Queryable): Promise<CodeSent | undefined> {
    if (!citizen.phone || citizen.phone_verified) return undefined;
    return phoneCodes.send({ phone: citizen.phone, citizenId: citizen.id, purpose: 'verify_phone', ...delivery }, on);
  }

  async function markVerified(on: Queryable, citizenId: string | undefined): Promise<string | undefined> {
    if (!citizenId) return undefined;
    await citizens.markEmailVerified(on, citizenId);
    await audit({ type: 'email.verified', citizenId }, on);
    return citizenId;
  }

  return {
    /**
     * Registers a citizen; returns the account, its email verification token id and the outcome
     * of its phone code (each when it has that contact). A NIK or email that already has an
     * account gets one answer for both (already_registered) that names no account, and the
     * holders are told by email that someone tried. A phone number is not checked here: a
     * verified one belongs to one account, and only the code's receiver learns, when verifying,
     * that it already does (so the answer tells nobody else whose number has an account).
     */
    async register(input: NewCitizen, delivery: CodeDelivery): Promise<{ citizen: Citizen; tokenId?: string; phoneCode?: CodeSent }> {
      const { ip } = delivery;
      let tokenId: string | undefined;
      let phoneCode: CodeSent | undefined;
      try {
        const citizen = await citizens.create(input, {
          actor: 'self',
          afterInsert: async (tx, created) => {
            if (created.email) tokenId = await sendVerification(tx, { ...created, email: created.email });
            phoneCode = await sendPhoneVerification(created, delivery, tx);
          },
        });
        return { citizen, tokenId, phoneCode };
      } catch (error) {
        if (!(error instanceof InputError) || !['nik_taken', 'email_taken'].includes(error.code)) throw error;
        // (Read before the transaction: PGlite's one connection would wait on itself.)
        const holders = await citizens.findHolders(input.nik, input.email?.trim() || null);
        await db.transaction(async (tx) => {
          for (const holder of holders) {
            // By email only: anyone who knows a NIK can make us send this, and a text costs money.
            await outbox.enqueue(registrationAttemptEmail(holder.email, holder.name), tx);
            await audit({ type: 'registration.duplicate', citizenId: holder.id, ip }, tx);
          }
        });
        // No field: marking the NIK or the email would tell which of the two has an account.
        throw new InputError('already_registered');
      }
    },

    sendVerificationAgain,

    /**
     * The token id of sendVerificationAgain, for a caller that continues to the code form either
     * way (a sign-in with the right password but an unverified email).
     */
    async resendVerification(citizenId: string): Promise<string | undefined> {
      return (await sendVerificationAgain(citizenId))?.tokenId;
    },

    /** Verifies by the emailed link's token; returns the account, or undefined for a bad token. */
    verifyByToken(token: string): Promise<string | undefined> {
      return db.transaction(async (tx) => markVerified(tx, await tokens.redeem(tx, 'verify_email', token)));
    },

    /** Verifies by the 6-digit code of token `tokenId`. */
    verifyByCode(tokenId: string, code: string): Promise<string | undefined> {
      return db.transaction(async (tx) => markVerified(tx, await tokens.redeemCode(tx, tokenId, code)));
    },

    /** Another code to the account's unverified phone (limits permitting), or undefined when it has none to verify. */
    async sendPhoneCode(citizenId: string, delivery: CodeDelivery): Promise<CodeSent | undefined> {
      const citizen = await citizens.findById(citizenId);
      return citizen && sendPhoneVerification(citizen, delivery);
    },

    /**
     * Verifies the phone of account `citizenId` by the code of `codeId`; returns the account, or
     * undefined for a wrong code or a code of another account. Throws InputError('phone_taken')
     * when the number became another account's verified number meanwhile (only the code's
     * receiver can learn that).
     */
    verifyPhone(citizenId: string, codeId: string, code: string, ip: string): Promise<string | undefined> {
      return db.transaction(async (tx) => {
        const checked = await phoneCodes.check(codeId, code, 'verify_phone', tx);
        if (checked?.citizenId !== citizenId) return undefined;
        if (!(await citizens.setVerifiedPhone(tx, checked.citizenId, checked.phone))) throw new InputError('phone_taken', 'code');
        await audit({ type: 'phone.verified', citizenId: checked.citizenId, ip, details: { channel: checked.channel } }, tx);
        return checked.citizenId;
      });
    },
  };
}

export type Registration = ReturnType<typeof createRegistration>;
