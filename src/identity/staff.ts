import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Sealer } from '../secrets.js';

export type StaffRole = 'officer' | 'admin';
export const STAFF_ROLES: StaffRole[] = ['officer', 'admin'];

export interface CounterView {
  id: string;
  name: string;
  birthdate: string;
  gender: 'male' | 'female';
  email: string;
  assurance: 'basic' | 'verified';
  verified_at: Date | null;
  verification_method: string | null;
}

/** Staff roles (MPP counter officers, administrators) and what officers do at the counter. */
export function createStaff(db: Db, sealer: Sealer, audit: Audit) {
  return {
    async rolesOf(citizenId: string): Promise<StaffRole[]> {
      const { rows } = await db.query<{ role: StaffRole }>('select role from staff_roles where citizen_id = $1', [citizenId]);
      return rows.map((r) => r.role);
    },

    /** Gives the account with this email a staff role (operator CLI). */
    async grant(email: string, role: StaffRole, grantedBy: string): Promise<string> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string }>('select id from citizens where lower(email) = lower($1)', [email.trim()]);
        const citizenId = rows[0]?.id;
        if (!citizenId) throw new InputError('staff_unknown_email', 'email', `no account with email ${email}`);
        await tx.query(
          'insert into staff_roles (citizen_id, role, granted_by) values ($1, $2, $3) on conflict do nothing',
          [citizenId, role, grantedBy],
        );
        await audit({ type: 'staff.granted', actor: grantedBy, citizenId, details: { role } }, tx);
        return citizenId;
      });
    },

    /** The account holding this NIK, as the counter sees it (found by the NIK's keyed hash). */
    async findByNik(nik: string): Promise<CounterView | undefined> {
      const { rows } = await db.query<CounterView>(
        `select id, name, to_char(birthdate, 'YYYY-MM-DD') as birthdate, gender, email, assurance, verified_at,
           verification_method
         from citizens where nik_hash = $1`,
        [sealer.keyedHash('nik', nik.trim())],
      );
      return rows[0];
    },

    /** An officer checked the KTP-el in person: the identity is verified, recorded with officer and time. */
    /** Marks the identity verified with the name the officer compared with the KTP-el (`seenName`). */
    async verifyAtCounter(officerId: string, citizenId: string, seenName: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ assurance: string; name: string }>('select assurance, name from citizens where id = $1 for update', [citizenId]);
        if (rows[0]?.assurance === 'verified') throw new InputError('already_verified');
        if (rows[0]?.name !== seenName) throw new InputError('citizen_changed', 'ktp_checked');
        await tx.query(
          `update citizens set assurance = 'verified', verified_at = now(), verified_by = $2,
             verification_method = 'counter', updated_at = now()
           where id = $1`,
          [citizenId, officerId],
        );
        await audit({ type: 'identity.verified', actor: officerId, citizenId, ip, details: { method: 'counter' } }, tx);
      });
    },
  };
}

export type Staff = ReturnType<typeof createStaff>;
