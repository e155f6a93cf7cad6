import { randomBytes, randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Outbox } from '../email/outbox.js';
import { staffInvitationEmail } from '../email/messages.js';
import type { Sealer } from '../secrets.js';
import { isUuid } from '../ids.js';
import { reasonProblem } from './citizen-admin.js';
import type { CitizenNotices } from './citizen-notices.js';
import { isValidName, type CitizenStore, type CounterView } from './citizens.js';
import type { PhoneCodes } from './phone-codes.js';

export type StaffRole = 'officer' | 'admin' | 'developer';
export const STAFF_ROLES: StaffRole[] = ['officer', 'admin', 'developer'];
const INVITATION_DAYS = 7;

export interface StaffMember {
  id: string;
  name: string;
  email: string | null;
  roles: StaffRole[];
  units: string[];
}

export interface Invitation {
  id: string;
  email: string;
  role: StaffRole;
  unit: string | null;
  unitName: string | null;
}

/** A verified name as an officer corrects it at the counter, with the reason kept in the audit log. */
export interface NameCorrection {
  name: string;
  reason: string;
}

/**
 * Every problem with a counter's name correction, each an InputError naming its field (the form
 * shows them all at once), or the correction tidied: the name as on the KTP-el (isValidName), the
 * reason as reasonProblem wants it.
 */
export function checkNameCorrection(input: NameCorrection):
  | { ok: true; correction: NameCorrection }
  | { ok: false; problems: InputError[] } {
  const name = input.name.trim().replace(/\s+/g, ' ');
  const reason = input.reason.trim();
  const problems: InputError[] = [];
  if (!isValidName(name)) problems.push(new InputError('name_invalid', 'name'));
  const badReason = reasonProblem(reason);
  if (badReason) problems.push(badReason);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, correction: { name, reason } };
}

/**
 * What an officer records at the counter vouches for a citizen in front of them, so never for the
 * officer's own account: another officer serves them (InputError('counter_own_account')).
 */
function refuseOwnAccount(officerId: string, citizenId: string): void {
  if (officerId === citizenId) throw new InputError('counter_own_account');
}

/** An invitation as its link shows it: with the name of the admin who sent it. */
export interface InvitationOffer extends Invitation {
  invitedByName: string;
}

/**
 * Staff: roles (MPP counter officers, administrators, unit developers tied to units), invitations
 * by email, and what officers do at the counter.
 */
export function createStaff(
  db: Db, sealer: Sealer, citizens: CitizenStore, outbox: Outbox, audit: Audit, issuer: string,
  { notices, phoneCodes }: { notices: CitizenNotices; phoneCodes: PhoneCodes },
) {
  const hashInvitation = (token: string) => sealer.keyedHash('staff-invitation', token);

  /** Gives an account a role (a developer: for a unit too), in the caller's transaction. */
  async function grantRole(tx: Queryable, citizenId: string, role: StaffRole, unit: string | undefined, grantedBy: string, ip?: string) {
    if ((role === 'developer') !== (unit !== undefined)) throw new InputError('developer_unit_required', 'unit', 'a developer is tied to a unit (and only a developer)');
    if (unit !== undefined) {
      const known = await tx.query('select 1 from units where slug = $1', [unit]);
      if (known.rowCount === 0) throw new InputError('unit_unknown', 'unit', `no unit with slug ${unit}`);
      await tx.query('insert into developer_units (citizen_id, unit_slug) values ($1, $2) on conflict do nothing', [citizenId, unit]);
    }
    await tx.query('insert into staff_roles (citizen_id, role, granted_by) values ($1, $2, $3) on conflict do nothing', [citizenId, role, grantedBy]);
    await audit({ type: 'staff.granted', actor: grantedBy, citizenId, ip, details: { role, ...(unit && { unit }) } }, tx);
  }

  return {
    async rolesOf(citizenId: string): Promise<StaffRole[]> {
      const { rows } = await db.query<{ role: StaffRole }>('select role from staff_roles where citizen_id = $1', [citizenId]);
      return rows.map((r) => r.role);
    },

    /** The units whose clients this developer works on. */
    async unitsOf(citizenId: string): Promise<string[]> {
      const { rows } = await db.query<{ unit_slug: string }>(
        `select d.unit_slug from developer_units d join staff_roles s on s.citizen_id = d.citizen_id and s.role = 'developer'
         where d.citizen_id = $1 order by d.unit_slug`,
        [citizenId],
      );
      return rows.map((r) => r.unit_slug);
    },

    /** Gives the account with this email a staff role (operator CLI; a developer with a unit). */
    async grant(email: string, role: StaffRole, grantedBy: string, unit?: string): Promise<string> {
      return db.transaction(async (tx) => {
        const citizenId = (await citizens.findByEmail(email, tx))?.id;
        if (!citizenId) throw new InputError('staff_unknown_email', 'email', `no account with email ${email}`);
        await grantRole(tx, citizenId, role, unit, grantedBy);
        return citizenId;
      });
    },

    /** Takes a role away (a developer's units go with it). */
    async revoke(citizenId: string, role: StaffRole, actor: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const gone = await tx.query('delete from staff_roles where citizen_id = $1 and role = $2', [citizenId, role]);
        if (gone.rowCount !== 1) throw new InputError('staff_role_unknown');
        // An invitation to the same role must not bring it back.
        const citizen = await citizens.findById(citizenId, tx);
        await tx.query(
          `update staff_invitations set expires_at = now()
           where role = $2 and accepted_at is null and expires_at > now() and email = lower($1)`,
          [citizen?.email ?? null, role],
        );
        if (role === 'developer') await tx.query('delete from developer_units where citizen_id = $1', [citizenId]);
        await audit({ type: 'staff.revoked', actor, citizenId, ip, details: { role } }, tx);
      });
    },

    /** Everyone with a staff role, with their roles and (developers) units. */
    async list(): Promise<StaffMember[]> {
      const { rows } = await db.query<{ id: string; roles: StaffRole[]; units: string[] }>(
        `select r.citizen_id as id, array_agg(r.role order by r.role) as roles,
           array(select unit_slug from developer_units d where d.citizen_id = r.citizen_id order by unit_slug) as units
         from staff_roles r group by r.citizen_id`,
      );
      const staff = new Map(rows.map((r) => [r.id, r]));
      const people = await citizens.findByIds([...staff.keys()]);
      return people.map(({ id, name, email }) => ({ id, name, email, roles: staff.get(id)!.roles, units: staff.get(id)!.units }));
    },

    /**
     * Invites a person by email to a role (a developer to a unit): a link valid for 7 days, which
     * the account with that email accepts after signing in.
     */
    async invite(input: { email: string; role: StaffRole; unit?: string }, invitedBy: string, ip: string): Promise<void> {
      const email = input.email.trim().toLowerCase();
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 254) throw new InputError('email_invalid', 'email');
      if ((input.role === 'developer') !== (input.unit !== undefined)) throw new InputError('developer_unit_required', 'unit');
      const token = randomBytes(32).toString('base64url');
      await db.transaction(async (tx) => {
        const unit = input.unit === undefined ? undefined : (await tx.query<{ name: string }>('select name from units where slug = $1', [input.unit])).rows[0];
        if (input.unit !== undefined && !unit) throw new InputError('unit_unknown', 'unit');
        // One live invitation per person and role: a new one replaces the one before.
        await tx.query(
          'update staff_invitations set expires_at = now() where email = $1 and role = $2 and accepted_at is null and expires_at > now()',
          [email, input.role],
        );
        await tx.query(
          `insert into staff_invitations (id, email, role, unit_slug, token_hash, invited_by, expires_at)
           values ($1, $2, $3, $4, $5, $6, now() + make_interval(days => ${INVITATION_DAYS}))`,
          [randomUUID(), email, input.role, input.unit ?? null, hashInvitation(token), invitedBy],
        );
        await audit({ type: 'staff.invited', actor: invitedBy, ip, details: { role: input.role, ...(input.unit && { unit: input.unit }) } }, tx);
        await outbox.enqueue(staffInvitationEmail(email, input.role, unit?.name, `${issuer}/undangan?token=${encodeURIComponent(token)}`, INVITATION_DAYS * 24 * 60), tx);
      });
    },

    /** Invitations not yet accepted nor expired, newest first. */
    async pendingInvitations(): Promise<(Invitation & { expiresAt: Date })[]> {
      const { rows } = await db.query<Invitation & { expiresAt: Date }>(
        `select i.id, i.email, i.role, i.unit_slug as unit, u.name as "unitName", i.expires_at as "expiresAt"
         from staff_invitations i left join units u on u.slug = i.unit_slug
         where i.accepted_at is null and i.expires_at > now() order by i.created_at desc`,
      );
      return rows;
    },

    /** Deletes at most `limit` invitations never accepted that expired a month ago (the retention job); returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        `delete from staff_invitations where ctid = any(array(
           select ctid from staff_invitations where accepted_at is null and expires_at < now() - interval '30 days' limit $1))`,
        [limit],
      );
      return rowCount;
    },

    /** Withdraws an invitation before it is accepted. */
    async cancelInvitation(id: string, actor: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { rowCount } = await tx.query(
          'update staff_invitations set expires_at = now() where id = $1 and accepted_at is null and expires_at > now()',
          [isUuid(id) ? id : null],
        );
        if (rowCount !== 1) throw new InputError('invitation_invalid');
        await audit({ type: 'staff.invitation_cancelled', actor, ip, details: { invitation: id } }, tx);
      });
    },

    /**
     * A live invitation by its link's token, with the name of the admin who sent it: what the link
     * shows before the person signs in. With `citizenId`, only for the account that holds the
     * invited email.
     */
    async invitation(token: string, citizenId?: string): Promise<InvitationOffer | undefined> {
      const email = citizenId === undefined ? undefined : (await citizens.findById(citizenId))?.email;
      if (citizenId !== undefined && !email) return undefined;
      const { rows } = await db.query<Invitation & { invitedBy: string }>(
        `select i.id, i.email, i.role, i.unit_slug as unit, u.name as "unitName", i.invited_by as "invitedBy" from staff_invitations i
         left join units u on u.slug = i.unit_slug
         where i.token_hash = $1 and ($2::text is null or i.email = lower($2)) and i.accepted_at is null and i.expires_at > now()
           and exists (select 1 from staff_roles r where r.citizen_id = i.invited_by and r.role = 'admin')`,
        [hashInvitation(token), email ?? null],
      );
      const found = rows[0];
      if (!found) return undefined;
      const { invitedBy, ...invitation } = found;
      return { ...invitation, invitedByName: (await citizens.findById(invitedBy))?.name ?? '' };
    },

    /** Accepts an invitation for the signed-in account, which must hold the invited email. */
    async accept(token: string, citizenId: string, ip: string): Promise<Invitation> {
      return db.transaction(async (tx) => {
        const citizen = await citizens.findById(citizenId, tx);
        const { rows } = await tx.query<Invitation & { invited_by: string | null }>(
          `update staff_invitations i set accepted_at = now(), accepted_by = $2
           where i.token_hash = $1 and i.accepted_at is null and i.expires_at > now() and i.email = lower($3)
             and exists (select 1 from staff_roles r where r.citizen_id = i.invited_by and r.role = 'admin')
           returning i.id, i.email, i.role, i.unit_slug as unit, null as "unitName", i.invited_by`,
          [hashInvitation(token), citizenId, citizen?.email ?? null],
        );
        const invitation = rows[0];
        if (!invitation) throw new InputError('invitation_invalid');
        await grantRole(tx, citizenId, invitation.role, invitation.unit ?? undefined, invitation.invited_by ?? 'invitation', ip);
        await audit({ type: 'staff.invitation_accepted', actor: citizenId, citizenId, ip, details: { invitation: invitation.id } }, tx);
        return invitation;
      });
    },

    /** The account holding this NIK, as the counter sees it (found by the NIK's keyed hash). */
    findByNik: (nik: string): Promise<CounterView | undefined> => citizens.counterView(nik),

    /**
     * An officer checked the KTP-el in person: the identity is verified, recorded with officer and
     * time, under the name the officer compared with the card (`seenName`).
     */
    async verifyAtCounter(officerId: string, citizenId: string, seenName: string, ip: string): Promise<void> {
      refuseOwnAccount(officerId, citizenId);
      await db.transaction(async (tx) => {
        const citizen = await citizens.lockById(tx, citizenId);
        if (citizen?.assurance === 'verified') throw new InputError('already_verified');
        if (citizen?.name !== seenName) throw new InputError('citizen_changed', 'ktp_checked');
        await citizens.markIdentityVerified(tx, citizenId, { method: 'counter', officerId });
        await audit({ type: 'identity.verified', actor: officerId, citizenId, ip, details: { method: 'counter' } }, tx);
      });
    },

    /**
     * An officer checked in person that this number (E.164) is the phone of the citizen in front
     * of them: it becomes the account's verified number. The citizen is told (by email, else on
     * the new number), and a verified number the account had before is told too. Throws
     * InputError('counter_phone_taken') when it is another account's verified number, and
     * InputError('phone_unchanged') when it is already this account's.
     */
    async recordPhoneAtCounter(officerId: string, citizenId: string, phone: string, ip: string): Promise<void> {
      refuseOwnAccount(officerId, citizenId);
      await db.transaction(async (tx) => {
        const before = await citizens.lockById(tx, citizenId);
        if (!before) throw new InputError('account_unknown');
        if (before.phone === phone && before.phone_verified) throw new InputError('phone_unchanged', 'phone');
        if (!(await citizens.setVerifiedPhone(tx, citizenId, phone))) throw new InputError('counter_phone_taken', 'phone');
        // A sign-in or reset code sent to a former number must not open the account any more.
        await phoneCodes.retire(citizenId, tx);
        const formerPhone = before.phone_verified && before.phone !== phone ? before.phone : null;
        await notices.send({ ...before, phone, phone_verified: true }, 'phone_changed', tx, { formerPhone });
        await audit({ type: 'phone.verified', actor: officerId, citizenId, ip, details: { method: 'counter' } }, tx);
      });
    },

    /**
     * An officer corrects the name of a verified account from the KTP-el in front of them (a
     * verified name cannot be changed on /akun). The old and new name and the reason are audited
     * with the officer, and the citizen is told (by email, else on the verified phone). Throws the
     * first problem of checkNameCorrection, InputError('name_not_verified') for an account whose
     * identity is not verified (its citizen edits the name on /akun), and
     * InputError('name_unchanged') when the name is already the account's.
     */
    async correctNameAtCounter(officerId: string, citizenId: string, input: NameCorrection, ip: string): Promise<void> {
      refuseOwnAccount(officerId, citizenId);
      const checked = checkNameCorrection(input);
      if (!checked.ok) throw checked.problems[0]!;
      const { name, reason } = checked.correction;
      await db.transaction(async (tx) => {
        const before = await citizens.lockById(tx, citizenId);
        if (!before) throw new InputError('account_unknown');
        if (before.assurance !== 'verified') throw new InputError('name_not_verified', 'name');
        if (before.name === name) throw new InputError('name_unchanged', 'name');
        await citizens.correctName(tx, citizenId, name);
        await notices.send({ ...before, name }, 'name_corrected', tx);
        await audit({ type: 'identity.name_corrected', actor: officerId, citizenId, ip, details: { method: 'counter', before: before.name, after: name, reason } }, tx);
      });
    },
  };
}

export type Staff = ReturnType<typeof createStaff>;
