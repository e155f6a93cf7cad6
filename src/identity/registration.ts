import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { registrationAttemptEmail, verificationEmail } from '../email/messages.js';
import { TOKEN_TTL_MINUTES, type AccountTokens } from './account-tokens.js';
import type { Citizen, CitizenStore, NewCitizen } from './citizens.js';
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
  audit: Audit;
}

/**
 * Self-registration and email verification. An account is created with its verification token
 * and email in one transaction; it can sign in once the email is verified by link or code.
 */
export function createRegistration({ db, issuer, citizens, tokens, outbox, audit }: AccountFlowDeps) {
  /** Issues a fresh verification token and queues its email; returns the token id (for the code form). */
  async function sendVerification(on: Queryable, citizen: Citizen): Promise<string> {
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
      if (!citizen || citizen.email_verified) return undefined;
      const waitSeconds = await emailWait(tx, citizen.id, 'verify_email');
      if (waitSeconds === 0) return { tokenId: await sendVerification(tx, citizen), waitSeconds };
      const { rows } = await tx.query<{ id: string }>(
        `select id from account_tokens
         where citizen_id = $1 and purpose = 'verify_email' and consumed_at is null and expires_at > now()
         order by created_at desc limit 1`,
        [citizen.id],
      );
      return rows[0] && { tokenId: rows[0].id, waitSeconds };
    });
  }

  async function markVerified(on: Queryable, citizenId: string | undefined): Promise<string | undefined> {
    if (!citizenId) return undefined;
    await citizens.markEmailVerified(on, citizenId);
    await audit({ type: 'email.verified', citizenId }, on);
    return citizenId;
  }

  return {
    /**
     * Registers a citizen; returns the account and its verification token id. A NIK or email that already has an
     * account gets one answer for both (already_registered) that names no account, and the
     * holders are told by email that someone tried.
     */
    async register(input: NewCitizen, ip: string): Promise<{ citizen: Citizen; tokenId: string }> {
      let tokenId = '';
      try {
        const citizen = await citizens.create(input, {
          actor: 'self',
          afterInsert: async (tx, created) => {
            tokenId = await sendVerification(tx, created);
          },
        });
        return { citizen, tokenId };
      } catch (error) {
        if (!(error instanceof InputError) || !['nik_taken', 'email_taken'].includes(error.code)) throw error;
        // (Read before the transaction: PGlite's one connection would wait on itself.)
        const holders = await citizens.findHolders(input.nik, input.email);
        await db.transaction(async (tx) => {
          for (const holder of holders) {
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
  };
}

export type Registration = ReturnType<typeof createRegistration>;
