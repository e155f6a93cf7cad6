import { InputError } from '../errors.js';
import { passwordResetEmail } from '../email/messages.js';
import type { Sealer } from '../secrets.js';
import { TOKEN_TTL_MINUTES } from './account-tokens.js';
import type { LoginAttempts, Refusal, TypedPhoneCode } from './login-attempt.js';
import type { CodeSent } from './phone-codes.js';
import type { AccountFlowDeps, CodeDelivery } from './registration.js';
import { emailWait } from './throttle.js';

/** The outcome of a reset code sent to the phone: a right one gives the proof the new-password form carries. */
export type ResetCodeOutcome =
  | { outcome: 'refused'; refusal: Refusal }
  | { outcome: 'failed' }
  /** `proof`: for the new-password form's hidden field; `username`: the account's login, for password managers. */
  | { outcome: 'passed'; proof: string; username: string };

/**
 * Password reset by email or by phone. By email: a single-use link (valid for
 * TOKEN_TTL_MINUTES.reset_password), hashed at rest, which also proves control of the email. By
 * phone: a code by WhatsApp or SMS to the account's verified number (phone-codes.ts); a right code
 * stands for the link: it gives the same single-use reset token, sealed (so that it tells the
 * server it came from a code, and proves nothing of the email). A reset ends every session and
 * revokes every token of the account.
 */
export function createPasswordReset({ db, issuer, citizens, sessions, tokens, outbox, phoneCodes, notices, audit, sealer, loginAttempts }: AccountFlowDeps & {
  sealer: Sealer;
  loginAttempts: LoginAttempts;
}) {
  /** The reset token a proof carries, and whether it came from a phone code (sealed) or an emailed link (as it is). */
  function tokenOf(proof: string): { token: string; byPhone: boolean } {
    if (!proof.startsWith('v1.')) return { token: proof, byPhone: false };
    try {
      return { token: sealer.open('phone-reset', proof), byPhone: true };
    } catch {
      return { token: '', byPhone: true };
    }
  }

  return {
    /**
     * Sends a reset link when the email has an account and its last link is not too recent
     * (emailWait); the caller answers the same in every case.
     */
    async request(email: string, ip: string): Promise<void> {
      const citizen = await citizens.findByEmail(email);
      if (!citizen?.email || citizen.status !== 'active') return;
      const to = citizen.email;
      await db.transaction(async (tx) => {
        if ((await emailWait(tx, citizen.id, 'reset_password')) > 0) return;
        const { token } = await tokens.issue(tx, citizen.id, 'reset_password');
        const link = `${issuer}/lupa-sandi/atur?token=${encodeURIComponent(token)}`;
        await outbox.enqueue(passwordResetEmail(to, citizen.name, link, TOKEN_TTL_MINUTES.reset_password), tx);
        await audit({ type: 'password_reset.requested', citizenId: citizen.id, ip, details: { via: 'email' } }, tx);
      });
    },

    /**
     * A reset code to this number (E.164): to the active account whose verified number it is, or,
     * for any other number, recorded and sent to nobody. The answer is alike in both cases.
     */
    async requestByPhone(phone: string, delivery: CodeDelivery): Promise<CodeSent> {
      const holder = await citizens.findByVerifiedPhone(phone);
      const citizenId = holder?.status === 'active' ? holder.id : undefined;
      return phoneCodes.send({ phone, citizenId, purpose: 'reset_password', ...delivery });
    },

    /**
     * Checks a reset code typed for the number it was asked for. Wrong codes count towards the
     * account's lock as wrong passwords do (login-attempt.ts). A right one issues the reset token
     * (retiring any emailed link) and returns it sealed, for the new-password form.
     */
    async checkPhoneCode(typed: TypedPhoneCode, ip: string): Promise<ResetCodeOutcome> {
      const attempt = await loginAttempts.phoneCode('reset_password', typed, { clientId: '', unit: undefined, ip });
      if (attempt.outcome === 'refused' || attempt.outcome === 'failed') return attempt;
      // (Only a sign-in is told that the account is disabled.)
      if (attempt.outcome === 'disabled') return { outcome: 'failed' };
      const { citizen, method } = attempt;
      const token = await db.transaction(async (tx) => {
        const issued = await tokens.issue(tx, citizen.id, 'reset_password');
        await audit({ type: 'password_reset.requested', citizenId: citizen.id, ip, details: { via: method } }, tx);
        return issued.token;
      });
      return { outcome: 'passed', proof: sealer.seal('phone-reset', token), username: citizen.email ?? citizen.phone ?? '' };
    },

    /**
     * The login of the account a still-good reset link or code proof belongs to (its email, else
     * its phone number), for the new-password form; undefined when the proof is no longer good.
     */
    async accountName(proof: string): Promise<string | undefined> {
      const { token } = tokenOf(proof);
      const citizenId = token ? await tokens.peek(db, 'reset_password', token) : undefined;
      const citizen = citizenId ? await citizens.findById(citizenId) : undefined;
      return citizen ? citizen.email ?? citizen.phone ?? '' : undefined;
    },

    /**
     * Sets the new password, given an emailed link's token or a phone code's proof. Throws
     * InputError('reset_token_invalid') for a used, expired or unknown one, or the password rule
     * the new password breaks; nothing changes then. An emailed link also proves the email; a
     * phone code proves nothing of it.
     */
    async complete(proof: string, password: string, ip: string): Promise<void> {
      const { token, byPhone } = tokenOf(proof);
      const citizenId = token ? await tokens.peek(db, 'reset_password', token) : undefined;
      if (!citizenId) throw new InputError('reset_token_invalid');
      const weak = await citizens.passwordProblemFor(citizenId, password);
      if (weak) throw new InputError(weak, 'password');
      await db.transaction(async (tx) => {
        if ((await tokens.redeem(tx, 'reset_password', token)) !== citizenId) throw new InputError('reset_token_invalid');
        await citizens.setPassword(tx, citizenId, password);
        if (!byPhone) await citizens.markEmailVerified(tx, citizenId);
        await sessions.endAll(tx, citizenId);
        const citizen = (await citizens.findById(citizenId, tx))!;
        // The citizen is told: by email, or on the verified phone of an account without one.
        await notices.send(citizen, 'password_changed', tx);
        await audit({ type: 'password_reset.completed', citizenId, ip, details: { via: byPhone ? 'phone' : 'email' } }, tx);
      });
    },
  };
}

export type PasswordReset = ReturnType<typeof createPasswordReset>;
