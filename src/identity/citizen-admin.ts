import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { citizenLockedEmail, citizenUnlockedEmail } from '../email/messages.js';
import { endAccountSessions } from '../oidc/payloads.js';
import type { Sealer } from '../secrets.js';
import { maskNik } from './nik.js';
import type { Throttle } from './throttle.js';
import { isUuid } from '../ids.js';

export type CitizenStatus = 'active' | 'locked';

/** A citizen as the admin console shows them: the NIK masked. */
export interface CitizenRecord {
  id: string;
  name: string;
  email: string;
  status: CitizenStatus;
  assurance: 'basic' | 'verified';
  createdAt: Date;
  lastLoginAt: Date | null;
  maskedNik: string;
}

export const REASON_MAX = 500;
/** Sixteen digits, also written in groups: a NIK, which must not reach the audit log through a reason. */
const NIK_LIKE = /(\d[\s.-]?){15}\d/;

/** Why an admin locks or unlocks an account: required, and never a NIK. */
function checkReason(reason: string): string {
  const text = reason.trim();
  if (!text) throw new InputError('reason_required', 'reason');
  if (NIK_LIKE.test(text)) throw new InputError('reason_has_nik', 'reason');
  return text;
}

/**
 * What the admin console does with citizens' accounts: find one by NIK or email, reveal the NIK
 * (audited), lock and unlock, end every session. Each change is audited with the admin as actor.
 */
export function createCitizenAdmin(db: Db, sealer: Sealer, outbox: Outbox, audit: Audit, throttle: Throttle) {
  async function select(where: string, param: string): Promise<CitizenRecord[]> {
    const { rows } = await db.query<Omit<CitizenRecord, 'maskedNik'> & { nik_enc: string }>(
      `select c.id, c.name, c.email, c.status, c.assurance, c.created_at as "createdAt", c.nik_enc,
         (select max(a.at) from audit_events a where a.type = 'login.succeeded' and a.citizen_id = c.id) as "lastLoginAt"
       from citizens c where ${where}`,
      [param],
    );
    return rows.map(({ nik_enc, ...row }) => ({ ...row, maskedNik: maskNik(sealer.open('nik', nik_enc)) }));
  }

  /** Ends every session of the account and revokes its grants and tokens, in the caller's transaction. */
  async function endSessions(tx: Queryable, actor: string, citizenId: string, ip: string): Promise<void> {
    await endAccountSessions(tx, citizenId);
    await tx.query('update citizens set sessions_ended_at = now() where id = $1', [citizenId]);
    await audit({ type: 'session.ended', actor, citizenId, ip, details: { all: true } }, tx);
  }

  /** Sets the account's status; false when there is no such account. */
  async function setStatus(actor: string, citizenId: string, after: CitizenStatus, reason: string, ip: string): Promise<boolean> {
    const why = checkReason(reason);
    if (after === 'locked' && actor.toLowerCase() === citizenId.toLowerCase()) throw new InputError('self_lock');
    if (!isUuid(citizenId)) return false;
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<{ status: CitizenStatus; name: string; email: string }>(
        'select status, name, email from citizens where id = $1 for update',
        [citizenId],
      );
      const citizen = rows[0];
      if (!citizen) return false;
      await tx.query('update citizens set status = $2, updated_at = now() where id = $1', [citizenId, after]);
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
     * The account with this NIK (16 digits) or, otherwise, this email (case-insensitive); both
     * exact. Each search is audited (how it searched and what it found, never the NIK or email).
     */
    async search(query: string, actor: string, ip: string): Promise<CitizenRecord[]> {
      const value = query.trim();
      const byNik = /^\d{16}$/.test(value);
      const found = byNik ? await select('c.nik_hash = $1', sealer.keyedHash('nik', value)) : await select('lower(c.email) = lower($1)', value);
      await audit({ type: 'citizen.searched', actor, citizenId: found[0]?.id, ip, details: { by: byNik ? 'nik' : 'email', found: found.length } });
      return found;
    },

    async find(citizenId: string): Promise<CitizenRecord | undefined> {
      return isUuid(citizenId) ? (await select('c.id = $1', citizenId))[0] : undefined;
    },

    /** The NIK in clear for an admin, each reveal audited (without the NIK). */
    async revealNik(actor: string, citizenId: string, ip: string): Promise<string | undefined> {
      if (!isUuid(citizenId)) return undefined;
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ nik_enc: string }>('select nik_enc from citizens where id = $1', [citizenId]);
        if (!rows[0]) return undefined;
        await audit({ type: 'citizen.nik_revealed', actor, citizenId, ip }, tx);
        return sealer.open('nik', rows[0].nik_enc);
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
        const { rowCount } = await tx.query('select 1 from citizens where id = $1', [citizenId]);
        if (rowCount === 0) return false;
        await endSessions(tx, actor, citizenId, ip);
        return true;
      });
    },
  };
}

export type CitizenAdmin = ReturnType<typeof createCitizenAdmin>;
