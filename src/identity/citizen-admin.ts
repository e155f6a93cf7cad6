import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { citizenLockedEmail, citizenUnlockedEmail } from '../email/messages.js';
import type { Throttle } from './throttle.js';
import type { CitizenRecord, CitizenStore } from './citizens.js';
import { endAllSessions, type AccountSessions } from './sessions.js';
import { isUuid } from '../ids.js';
import { typedNik } from './nik.js';

export type CitizenStatus = 'active' | 'locked';

export const REASON_MAX = 500;
/**
 * Sixteen digits, also written in groups with any separators ("3571 - 0101 / ..."): a NIK, which
 * must not reach the audit log through a reason.
 */
const NIK_LIKE = /(\d[^\p{L}\d]{0,3}){15}\d/u;

/**
 * What is wrong with the reason for a change to an account (an admin's lock or unlock, a counter's
 * name correction), if anything: it is required, at most REASON_MAX characters, and never a NIK,
 * since it is kept in the audit log.
 */
export function reasonProblem(reason: string): InputError | undefined {
  const text = reason.trim();
  if (!text) return new InputError('reason_required', 'reason');
  if (text.length > REASON_MAX) return new InputError('reason_too_long', 'reason');
  if (NIK_LIKE.test(text)) return new InputError('reason_has_nik', 'reason');
  return undefined;
}

/** Why an admin locks or unlocks an account (reasonProblem), trimmed. */
function checkReason(reason: string): string {
  const problem = reasonProblem(reason);
  if (problem) throw problem;
  return reason.trim();
}

/** A reveal's reason: the case or ticket it serves, kept in the reveal's audit entry. */
export const REVEAL_REASON = { min: 3, max: 200 } as const;

/** Why an admin reveals a NIK: a case or ticket reference of 3 to 200 characters, one line, never a NIK. */
function checkRevealReason(reason: string): string {
  const text = reason.trim();
  if (!text) throw new InputError('reveal_reason_required', 'reveal_reason');
  // Control and format characters (a line break, a right-to-left override) could disguise the audit entry.
  if (/[\p{Cc}\p{Cf}]/u.test(text)) throw new InputError('reveal_reason_invalid', 'reveal_reason');
  if (text.length < REVEAL_REASON.min || text.length > REVEAL_REASON.max) throw new InputError('reveal_reason_length', 'reveal_reason');
  if (NIK_LIKE.test(text)) throw new InputError('reveal_reason_has_nik', 'reveal_reason');
  return text;
}

/**
 * What the admin console does with citizens' accounts: find one by NIK or email, reveal the NIK
 * (audited), lock and unlock, end every session. Each change is audited with the admin as actor.
 */
export function createCitizenAdmin(db: Db, citizens: CitizenStore, sessions: AccountSessions, outbox: Outbox, audit: Audit, throttle: Throttle) {
  const endSessions = (tx: Queryable, actor: string, citizenId: string, ip: string) => endAllSessions(tx, { sessions, citizens, audit }, citizenId, ip, actor);

  /** Sets the account's status; false when there is no such account. */
  async function setStatus(actor: string, citizenId: string, after: CitizenStatus, reason: string, ip: string): Promise<boolean> {
    const why = checkReason(reason);
    if (after === 'locked' && actor.toLowerCase() === citizenId.toLowerCase()) throw new InputError('self_lock');
    if (!isUuid(citizenId)) return false;
    return db.transaction(async (tx) => {
      const citizen = await citizens.lockById(tx, citizenId);
      if (!citizen) return false;
      await citizens.setStatus(tx, citizenId, after);
      const details = { reason: why, before: citizen.status, after };
      if (after === 'locked') {
        await audit({ type: 'citizen.locked', actor, citizenId, ip, details }, tx);
        await endSessions(tx, actor, citizenId, ip);
        await outbox.enqueue(citizenLockedEmail(citizen.email, citizen.name), tx);
      } else {
        await audit({ type: 'citizen.unlocked', actor, citizenId, ip, details }, tx);
        await outbox.enqueue(citizenUnlockedEmail(citizen.email, citizen.name), tx);
      }
      return true;
    });
  }

  return {
    /**
     * The account with this NIK (16 digits, also typed in groups) or, otherwise, this email (case-insensitive); both
     * exact. Each search is audited (how it searched and what it found, never the NIK or email).
     */
    async search(query: string, actor: string, ip: string): Promise<CitizenRecord[]> {
      const value = query.trim();
      const nik = typedNik(value);
      const found = await citizens.records(nik ? { nik } : { email: value });
      await audit({ type: 'citizen.searched', actor, citizenId: found[0]?.id, ip, details: { by: nik ? 'nik' : 'email', found: found.length } });
      return found;
    },

    async find(citizenId: string): Promise<CitizenRecord | undefined> {
      return isUuid(citizenId) ? (await citizens.records({ id: citizenId }))[0] : undefined;
    },

    /**
     * The NIK in clear for an admin, for a case or ticket (the reason); each reveal audited with
     * its reason (without the NIK). A bad reason is an InputError and reveals nothing.
     */
    async revealNik(actor: string, citizenId: string, reason: string, ip: string): Promise<string | undefined> {
      const why = checkRevealReason(reason);
      if (!isUuid(citizenId)) return undefined;
      return db.transaction(async (tx) => {
        const nik = await citizens.nikOf(citizenId, tx);
        if (nik === undefined) return undefined;
        await audit({ type: 'citizen.nik_revealed', actor, citizenId, ip, details: { reason: why } }, tx);
        return nik;
      });
    },

    /** Locks the account: no login, every session and token ends, and the citizen is emailed. */
    lock(actor: string, citizenId: string, reason: string, ip: string): Promise<boolean> {
      return setStatus(actor, citizenId, 'locked', reason, ip);
    },

    /** Unlocks the account, lifts a lock after failed logins too, and emails the citizen. */
    async unlock(actor: string, citizenId: string, reason: string, ip: string): Promise<boolean> {
      const found = await setStatus(actor, citizenId, 'active', reason, ip);
      if (found) await throttle.accountSucceeded(citizenId);
      return found;
    },

    /** Ends every session of the account and revokes its grants and tokens. */
    async endAllSessions(actor: string, citizenId: string, ip: string): Promise<boolean> {
      if (!isUuid(citizenId)) return false;
      return db.transaction(async (tx) => {
        if (!(await citizens.findById(citizenId, tx))) return false;
        await endSessions(tx, actor, citizenId, ip);
        return true;
      });
    },
  };
}

export type CitizenAdmin = ReturnType<typeof createCitizenAdmin>;
