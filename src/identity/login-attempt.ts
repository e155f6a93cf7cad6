import type { Audit } from '../audit/audit.js';
import type { CitizenNotices } from './citizen-notices.js';
import type { Citizen, CitizenStore } from './citizens.js';
import type { IdentityVerification } from './identity-verification.js';
import type { PhoneCodes } from './phone-codes.js';
import type { Throttle, Verdict } from './throttle.js';

/** Where an attempt comes from: the service being signed in to and the browser's address. */
export interface AttemptOrigin {
  clientId: string;
  /** The unit of that service, for the metrics (none for Kediri ID's own portal). */
  unit: string | undefined;
  ip: string;
}

/** A refusal by the brute-force defence: the page says to wait, or that the account is locked. */
export type Refusal = Extract<Verdict, { allowed: false }>;

/** The outcome of an identifier and password. */
export type PasswordOutcome =
  | { outcome: 'refused'; refusal: Refusal }
  | { outcome: 'failed' }
  /** Right password, but the account was disabled for inactivity: the page sends the citizen to the MPP counter. */
  | { outcome: 'disabled' }
  /** Right password, but neither the email nor the phone is proven: a fresh code is due before anything else. */
  | { outcome: 'verify_contact'; citizen: Citizen }
  /** Right password; the account's second factor comes next. */
  | { outcome: 'second_factor'; citizen: Citizen }
  | { outcome: 'passed'; citizen: Citizen };

/** The amr value of the second factor used in a login (RFC 8176). */
export type SecondFactorMethod = 'otp' | 'hwk' | 'swk';
export const isSecondFactorMethod = (m: unknown): m is SecondFactorMethod => m === 'otp' || m === 'hwk' || m === 'swk';

export type SecondFactorOutcome = { outcome: 'refused'; refusal: Refusal } | { outcome: 'failed' } | { outcome: 'passed'; method: SecondFactorMethod };

/**
 * The amr value of a code sent to the phone: RFC 8176's 'sms' for an SMS, and 'whatsapp' (ours,
 * documented in docs/integrasi.md) for a WhatsApp message.
 */
export type PhoneCodeMethod = 'sms' | 'whatsapp';
export const isPhoneCodeMethod = (m: unknown): m is PhoneCodeMethod => m === 'sms' || m === 'whatsapp';

/** What a code sent to the phone may be used for here: signing in, resetting the password, or proving the account is yours to link an upstream identity to it. */
export type PhoneCodeUse = 'sign_in' | 'reset_password' | 'link_upstream';

/** The code a browser typed, of the code it was given (`codeId`) for the number it typed. */
export interface TypedPhoneCode {
  /** E.164: the number the code was asked for. */
  phone: string;
  codeId: string;
  code: string;
}

export type PhoneCodeOutcome =
  | { outcome: 'refused'; refusal: Refusal }
  | { outcome: 'failed' }
  /** A right code for signing in, of an account disabled for inactivity: the page sends the citizen to the MPP counter. */
  | { outcome: 'disabled' }
  /** A right code for signing in, of an account with a second factor: that comes next. */
  | { outcome: 'second_factor'; citizen: Citizen; method: PhoneCodeMethod }
  | { outcome: 'passed'; citizen: Citizen; method: PhoneCodeMethod };

/** The outcome of an online population check: its result, or refused by the brute-force defence. */
export type PopulationOutcome = Awaited<ReturnType<IdentityVerification['verifyOnline']>> | 'too_many';

/** Counts a login attempt by its result and the unit of the service (the metrics' logins counter). */
export type CountLogin = (result: 'succeeded' | 'failed' | 'throttled' | 'second_factor_failed', unit: string | undefined) => void;

interface Deps {
  citizens: CitizenStore;
  throttle: Throttle;
  phoneCodes: PhoneCodes;
  identityVerification: IdentityVerification | undefined;
  notices: CitizenNotices;
  audit: Audit;
  countLogin: CountLogin;
}

/**
 * The attempts a login is made of, each with its brute-force defence, audit entries, metrics and
 * the email that tells a citizen their account was locked. The pages only show the outcome.
 *
 * Throttling: the address first, then the account (or the unknown identifier, which locks alike,
 * so that the answers do not tell which accounts exist). See throttle.ts.
 */
export function createLoginAttempts({ citizens, throttle, phoneCodes, identityVerification, notices, audit, countLogin }: Deps) {
  /** Counts a failure towards the account's lock, and tells the citizen when it locks. */
  async function failed(key: string, citizen: Citizen | undefined, ip: string): Promise<void> {
    if ((await throttle.accountFailed(key)) && citizen) {
      await audit({ type: 'account.locked', citizenId: citizen.id, ip });
      await notices.send(citizen, 'account_locked');
    }
  }

  return {
    /** An identifier (NIK or email) and a password. */
    async password(identifier: string, password: string, { clientId, unit, ip }: AttemptOrigin): Promise<PasswordOutcome> {
      const subject = await citizens.loginSubject(identifier);
      const verdict = await throttle.attempt('login', ip, subject.key);
      if (!verdict.allowed) {
        await audit({ type: 'login.throttled', citizenId: subject.citizen?.id, clientId, ip, details: { locked: verdict.locked } });
        countLogin('throttled', unit);
        return { outcome: 'refused', refusal: verdict };
      }
      const citizen = await subject.authenticate(password);
      if (citizen === 'disabled') {
        await audit({ type: 'login.disabled_account', citizenId: subject.citizen?.id, clientId, ip });
        countLogin('failed', unit);
        return { outcome: 'disabled' };
      }
      if (!citizen) {
        await audit({ type: 'login.failed', citizenId: subject.citizen?.id, clientId, ip });
        countLogin('failed', unit);
        await failed(subject.key, subject.citizen, ip);
        return { outcome: 'failed' };
      }
      if (!citizen.email_verified && !citizen.phone_verified) {
        await throttle.accountSucceeded(subject.key);
        return { outcome: 'verify_contact', citizen };
      }
      if (subject.secondFactorRequired) {
        // The failures are forgotten only after the second factor too, so that guessing codes
        // between right passwords still reaches the lock.
        await throttle.accountPassedStep(subject.key);
        return { outcome: 'second_factor', citizen };
      }
      await throttle.accountSucceeded(subject.key);
      return { outcome: 'passed', citizen };
    },

    /**
     * A proof that the citizen holds an account already found (linking an upstream identity to
     * it): its password, or a code sent to its email (`check`, named by `method` in the audit).
     * Throttled, and counted towards the account's lock, as a login's password.
     */
    async accountProof(citizen: Citizen, method: 'password' | 'email_code', check: () => Promise<boolean>, { clientId, unit, ip }: AttemptOrigin): Promise<Exclude<SecondFactorOutcome, { outcome: 'passed' }> | { outcome: 'passed' }> {
      const verdict = await throttle.attempt(method === 'password' ? 'login' : 'code', ip, citizen.id);
      if (!verdict.allowed) {
        await audit({ type: 'login.throttled', citizenId: citizen.id, clientId, ip, details: { locked: verdict.locked } });
        countLogin('throttled', unit);
        return { outcome: 'refused', refusal: verdict };
      }
      if (!(await check())) {
        await audit({ type: 'login.failed', citizenId: citizen.id, clientId, ip, details: { method: `upstream_link_${method}` } });
        countLogin('failed', unit);
        await failed(citizen.id, citizen, ip);
        return { outcome: 'failed' };
      }
      await throttle.accountSucceeded(citizen.id);
      return { outcome: 'passed' };
    },

    /**
     * The second step, for an account whose password was right: `check` tries what the browser
     * sent (a code, a recovery code or a passkey's answer). Failures count towards the same lock
     * as wrong passwords.
     */
    async secondFactor(citizen: Citizen, check: () => Promise<SecondFactorMethod | undefined>, { clientId, unit, ip }: AttemptOrigin): Promise<SecondFactorOutcome> {
      const verdict = await throttle.attempt('code', ip, citizen.id);
      if (!verdict.allowed) return { outcome: 'refused', refusal: verdict };
      const method = await check();
      if (!method) {
        await audit({ type: 'login.second_factor_failed', citizenId: citizen.id, clientId, ip });
        countLogin('second_factor_failed', unit);
        await failed(citizen.id, citizen, ip);
        return { outcome: 'failed' };
      }
      await throttle.accountSucceeded(citizen.id);
      return { outcome: 'passed', method };
    },

    /**
     * A code sent to the phone, to sign in without a password (use 'sign_in'), to reset the
     * password ('reset_password'), or to prove the account is yours ('link_upstream'). Codes count towards the same lock as passwords: the account's
     * whose verified number it is, or, for a number without one, the number's (as an unknown
     * identifier locks alike); and towards the address's limit of codes. A code passes only for
     * the active account it was sent to, whose verified number it still is.
     */
    async phoneCode(use: PhoneCodeUse, typed: TypedPhoneCode, { clientId, unit, ip }: AttemptOrigin): Promise<PhoneCodeOutcome> {
      // A link's code is audited and counted as a login's (it leads to one).
      const signIn = use !== 'reset_password';
      const subject = await citizens.loginSubject(typed.phone);
      const verdict = await throttle.attempt('code', ip, subject.key);
      if (!verdict.allowed) {
        const type = signIn ? 'login.throttled' : 'password_reset.throttled';
        await audit({ type, citizenId: subject.citizen?.id, clientId: clientId || undefined, ip, details: { method: 'phone_code', locked: verdict.locked } });
        if (signIn) countLogin('throttled', unit);
        return { outcome: 'refused', refusal: verdict };
      }
      const checked = await phoneCodes.check(typed.codeId, typed.code, use);
      // The account whose verified number was typed (loginSubject read it) must be the code's.
      const citizen = subject.citizen;
      const proves = checked !== undefined && citizen?.id === checked.citizenId && citizen.phone_verified
        && citizen.phone === checked.phone && checked.phone === typed.phone;
      if (proves && use === 'sign_in' && subject.disabled) {
        await audit({ type: 'login.disabled_account', citizenId: citizen.id, clientId: clientId || undefined, ip, details: { method: 'phone_code' } });
        countLogin('failed', unit);
        return { outcome: 'disabled' };
      }
      const holds = proves && citizen.status === 'active';
      if (!holds || !checked || !citizen) {
        const type = signIn ? 'login.failed' : 'password_reset.code_failed';
        await audit({ type, citizenId: subject.citizen?.id, clientId: clientId || undefined, ip, details: { method: 'phone_code' } });
        if (signIn) countLogin('failed', unit);
        await failed(subject.key, subject.citizen, ip);
        return { outcome: 'failed' };
      }
      // The channel that delivered the code (the other one when the first failed).
      const method: PhoneCodeMethod = checked.channel === 'sms' ? 'sms' : 'whatsapp';
      if (use === 'sign_in' && subject.secondFactorRequired) {
        // As after a right password: the failures are forgotten only after the second factor.
        await throttle.accountPassedStep(citizen.id);
        return { outcome: 'second_factor', citizen, method };
      }
      await throttle.accountSucceeded(citizen.id);
      return { outcome: 'passed', citizen, method };
    },

    /**
     * The online population check offered when a login does not reach the verified level. Its
     * limit is kept per account (a replayed cookie does not reset it) and per address.
     */
    async populationCheck(citizenId: string, birthPlace: string, ip: string): Promise<PopulationOutcome> {
      if (!identityVerification) throw new Error('no population verifier is configured');
      const key = `population:${citizenId}`;
      const verdict = await throttle.attempt('code', ip, key);
      if (!verdict.allowed) return 'too_many';
      const result = await identityVerification.verifyOnline(citizenId, birthPlace, ip);
      await (result === 'match' ? throttle.accountSucceeded(key) : throttle.accountFailed(key));
      return result;
    },

    /** A login whose account does not reach the acr the service asked for. */
    async unmet(citizenId: string, requested: unknown, { clientId, ip }: AttemptOrigin): Promise<void> {
      await audit({ type: 'assurance.unmet', citizenId, clientId, ip, details: { requested } });
    },

    /**
     * A login that completes: audited with its acr and amr, and counted; a login at an upstream
     * also with whether the person signed in there for it (citizens.freshLogin reads it).
     */
    async succeeded(citizenId: string, { acr, amr, userAgent, reauthenticated }: { acr: string; amr: string[]; userAgent: string; reauthenticated?: boolean },
      { clientId, unit, ip }: AttemptOrigin): Promise<void> {
      const details = { acr, amr, userAgent: userAgent.slice(0, 200), ...(reauthenticated !== undefined && { reauthenticated }) };
      await audit({ type: 'login.succeeded', citizenId, clientId, ip, details });
      countLogin('succeeded', unit);
    },
  };
}

export type LoginAttempts = ReturnType<typeof createLoginAttempts>;
