import { InputError } from '../errors.js';
import { passwordChangedEmail, passwordResetEmail } from '../email/messages.js';
import { TOKEN_TTL_MINUTES } from './account-tokens.js';
import type { AccountFlowDeps } from './registration.js';
import { emailWait } from './throttle.js';

/**
 * Password reset by email: a single-use link (valid for TOKEN_TTL_MINUTES.reset_password), hashed
 * at rest. A reset ends every session and revokes every token of the account, and proves control
 * of the email.
 */
export function createPasswordReset({ db, issuer, citizens, sessions, tokens, outbox, audit }: AccountFlowDeps) {
  return {
    /**
     * Sends a reset link when the email has an account and its last link is not too recent
     * (emailWait); the caller answers the same in every case.
     */
    async request(email: string, ip: string): Promise<void> {
      const citizen = await citizens.findByEmail(email);
      if (!citizen || citizen.status !== 'active') return;
      await db.transaction(async (tx) => {
        if ((await emailWait(tx, citizen.id, 'reset_password')) > 0) return;
        const { token } = await tokens.issue(tx, citizen.id, 'reset_password');
        const link = `${issuer}/lupa-sandi/atur?token=${encodeURIComponent(token)}`;
        await outbox.enqueue(passwordResetEmail(citizen.email, citizen.name, link, TOKEN_TTL_MINUTES.reset_password), tx);
        await audit({ type: 'password_reset.requested', citizenId: citizen.id, ip }, tx);
      });
    },

    /** The email of the account a still-good reset link belongs to (for its form), or undefined. */
    async accountEmail(token: string): Promise<string | undefined> {
      const citizenId = await tokens.peek(db, 'reset_password', token);
      return citizenId ? (await citizens.findById(citizenId))?.email ?? undefined : undefined;
    },

    /**
     * Sets the new password. Throws InputError('reset_token_invalid') for a used, expired or
     * unknown link, or the password rule the new password breaks; nothing changes then.
     */
    async complete(token: string, password: string, ip: string): Promise<void> {
      const citizenId = await tokens.peek(db, 'reset_password', token);
      if (!citizenId) throw new InputError('reset_token_invalid');
      const weak = await citizens.passwordProblemFor(citizenId, password);
      if (weak) throw new InputError(weak, 'password');
      await db.transaction(async (tx) => {
        if ((await tokens.redeem(tx, 'reset_password', token)) !== citizenId) throw new InputError('reset_token_invalid');
        await citizens.setPassword(tx, citizenId, password);
        await citizens.markEmailVerified(tx, citizenId);
        await sessions.endAll(tx, citizenId);
        const citizen = (await citizens.findById(citizenId, tx))!;
        await outbox.enqueue(passwordChangedEmail(citizen.email, citizen.name), tx);
        await audit({ type: 'password_reset.completed', citizenId, ip }, tx);
      });
    },
  };
}

export type PasswordReset = ReturnType<typeof createPasswordReset>;
