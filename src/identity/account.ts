import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import type { Citizen, CitizenStore } from './citizens.js';
import type { Throttle } from './throttle.js';
import { InputError } from '../errors.js';
import type { CitizenNotices } from './citizen-notices.js';
import type { Sealer } from '../secrets.js';
import { endAllSessions, type AccountSessions, type SignInSession } from './sessions.js';
import type { DataReleases } from '../audit/data-releases.js';

export interface ActivityEntry {
  type: string;
  at: Date;
  ip: string | null;
  clientId: string | null;
}

/** What the citizen's account page (/akun) shows and does: connected services and the data they were given, activity, export. */
export function createAccount(
  db: Db, sealer: Sealer, citizens: CitizenStore, sessions: AccountSessions, notices: CitizenNotices, audit: Audit, throttle: Throttle,
  releases: DataReleases,
) {
  /** The account's current password, checked under the same lockout as a login; an InputError for `field` otherwise. */
  async function checkCurrentPassword(citizen: Citizen, password: string, field: string): Promise<void> {
    const verdict = await throttle.accountAttempt(citizen.id);
    if (!verdict.allowed) throw new InputError(verdict.locked ? 'account_locked' : 'too_many_attempts', field);
    if (!(await citizens.passwordMatches(citizen.id, password))) {
      await throttle.accountFailed(citizen.id);
      throw new InputError('password_current_wrong', field);
    }
    await throttle.accountSucceeded(citizen.id);
  }

  const connectedServices = (citizenId: string) => sessions.connectedServices(citizenId);

  async function activity(citizenId: string, limit: number): Promise<ActivityEntry[]> {
    const { rows } = await db.query<ActivityEntry>(
      `select type, at, ip, client_id as "clientId" from audit_events where citizen_id = $1 order by at desc, id desc limit $2`,
      [citizenId, limit],
    );
    return rows;
  }

  return {
    connectedServices,
    activity,
    checkCurrentPassword,

    /** Per service, what of the citizen's data it was given (claim names), when last, how often this month. */
    dataReleases: (citizenId: string) => releases.ofCitizen(citizenId),

    /** The account's live sign-in sessions, newest first, with the device and address of each login. */
    sessions: (citizenId: string): Promise<SignInSession[]> => sessions.list(citizenId),

    /** Ends one sign-in session of this account and revokes the grants made in it; its relying parties get a back-channel logout. */
    async endSession(citizenId: string, sessionId: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        if (!(await sessions.endOne(tx, citizenId, sessionId))) return false;
        await audit({ type: 'session.ended', citizenId, ip }, tx);
        return true;
      });
    },

    /** Ends every sign-in session of the account and revokes every grant and token. */
    async endAllSessions(citizenId: string, ip: string): Promise<void> {
      await db.transaction((tx) => endAllSessions(tx, { sessions, citizens, audit }, citizenId, ip));
    },

    /** Changes the password (the current one must be right): every session and token ends, and the citizen is told (citizen-notices.ts). */
    /**
     * Changes the password (the current one must be right), or sets the first one of an account
     * made at a national identity provider, which has none: its caller asked for a recent login.
     */
    async changePassword(citizenId: string, current: string, next: string, ip: string): Promise<void> {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) throw new InputError('account_unknown');
      if (await citizens.hasPassword(citizenId)) await checkCurrentPassword(citizen, current, 'current');
      // A password signs in only after a code to a contact: an account without one adds it first.
      else if (!citizen.email && !citizen.phone) throw new InputError('password_needs_contact', 'password');
      const weak = await citizens.passwordProblemFor(citizenId, next);
      if (weak) throw new InputError(weak, 'password');
      await db.transaction(async (tx) => {
        await citizens.setPassword(tx, citizenId, next);
        await sessions.endAll(tx, citizenId);
        await notices.send(citizen, 'password_changed', tx);
        await audit({ type: 'password.changed', citizenId, ip }, tx);
      });
    },

    /**
     * Deletes the account (the password must be right): grants and tokens revoked, personal data
     * erased; the audit entries stay, without the address and device they held.
     */
    async deleteAccount(citizenId: string, password: string, ip: string): Promise<void> {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) throw new InputError('account_unknown');
      // An account without a password (made at a national identity provider): its caller asked for a recent login.
      if (await citizens.hasPassword(citizenId)) await checkCurrentPassword(citizen, password, 'password');
      const nik = await citizens.nikOf(citizenId);
      await db.transaction(async (tx) => {
        await sessions.endAll(tx, citizenId);
        await tx.query('delete from population_checks where nik_hash = $1', [sealer.keyedHash('nik', nik!)]);
        await tx.query('delete from outbox where lower(to_address) = lower($1)', [citizen.email]);
        await citizens.delete(tx, citizenId);
        await tx.query("update audit_events set ip = null, details = details - 'userAgent' where citizen_id = $1", [citizenId]);
        await audit({ type: 'account.deleted', citizenId }, tx);
      });
    },

    /**
     * Withdraws the citizen's consent to the unit's service of this grant: every grant of the
     * citizen to that service is revoked with every token issued under it, and the service's
     * sessions of the citizen end (it is sent a back-channel logout); the service must ask for
     * consent again. False when the grant is not this citizen's.
     */
    async revokeService(citizenId: string, grantId: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const clientId = await sessions.revokeGrant(tx, citizenId, grantId);
        if (clientId === undefined) return false;
        await audit({ type: 'consent.revoked', citizenId, clientId, ip }, tx);
        return true;
      });
    },

    /** Everything held about the account, for "download my data" (the NIK included: it is theirs). */
    async export(citizenId: string) {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) return undefined;
      return {
        exportedAt: new Date().toISOString(),
        account: { ...citizen, nik: await citizens.nikOf(citizenId), ...(await citizens.accountDates(citizenId)) },
        connectedServices: await connectedServices(citizenId),
        dataReleases: await releases.recordOf(citizenId),
        activity: await activity(citizenId, 10_000),
      };
    },
  };
}

export type Account = ReturnType<typeof createAccount>;
