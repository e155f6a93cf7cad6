import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Db, type Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Sealer } from '../secrets.js';
import { checkNik, compactNik, maskNik, typedNik } from './nik.js';
import { normalizePhone } from './phone.js';
import { passwordProblem } from './password-policy.js';
import type { Passwords } from './passwords.js';
import { isUuid } from '../ids.js';
import { SECOND_FACTOR_REQUIRED } from './second-factors.js';
import { createChangeCache, forgetChanged } from '../db/change-cache.js';

export interface Citizen {
  id: string;
  name: string;
  birthdate: string;
  gender: 'male' | 'female';
  /** An account has an email, a phone number (E.164), or both. */
  email: string | null;
  email_verified: boolean;
  phone: string | null;
  /** Proved by a code sent to it, or checked at the MPP counter; a verified number belongs to one account. */
  phone_verified: boolean;
  status: 'active' | 'locked';
  assurance: 'basic' | 'verified';
  address: Record<string, string> | null;
  updated_at: Date;
}

/** An account as a login reads it; `disabled`: for inactivity (retention), which the login tells once the password is right. */
type LoginRow = Citizen & { password_hash: string | null; second_factor: boolean; disabled: boolean };
const accountOf = ({ password_hash: _, second_factor: __, disabled: ___, ...citizen }: LoginRow): Citizen => citizen;

/** Whose failures a login's identifier counts against, and the check of a password for it. */
export interface LoginSubject {
  /** The account's id, or a keyed hash of an identifier that names no account. */
  key: string;
  citizen?: Citizen;
  /** Whether a login of the account needs a second step (SECOND_FACTOR_REQUIRED). */
  secondFactorRequired?: boolean;
  /** The account was disabled for inactivity: to be told only to whoever proved to hold it (a right password or code). */
  disabled?: boolean;
  /**
   * The account, when the password is its own and it is active; 'disabled' when the password is
   * its own and the account was disabled for inactivity (the login tells the citizen what to do).
   */
  authenticate(password: string): Promise<Citizen | 'disabled' | undefined>;
}

/** A citizen as the MPP counter sees them, found by NIK. */
export interface CounterView {
  id: string;
  name: string;
  birthdate: string;
  gender: 'male' | 'female';
  email: string | null;
  phone: string | null;
  phone_verified: boolean;
  assurance: 'basic' | 'verified';
  verified_at: Date | null;
  verification_method: string | null;
}

/** A citizen as the admin console shows them: the NIK masked. */
export interface CitizenRecord {
  id: string;
  name: string;
  email: string | null;
  status: Citizen['status'];
  assurance: 'basic' | 'verified';
  createdAt: Date;
  lastLoginAt: Date | null;
  maskedNik: string;
}

/** A seeded account (seed.ts): a verified email, basic assurance. */
export interface SeededCitizen {
  nik: string;
  name: string;
  birthdate: string;
  gender: string;
  email: string;
}

/** What a citizen edits on the account page (profile.ts checks it). */
type ProfileFields = { name: string; address: object | null };

/** How an identity was verified: by an officer at the counter, or online against the population register (for the name it matched). */
export type IdentityVerifiedBy =
  | { method: 'counter'; officerId: string }
  | { method: 'population_data'; name: string }
  /** A sign-in at an upstream (INApas, IKD) that vouches for the identity: the account's name and birth date agree with its. */
  | { method: 'upstream'; upstream: string };

export interface CreateOptions {
  actor: string;
  /** True when whoever creates the account vouches for the email (the operator CLI). */
  emailVerified?: boolean;
  /** The identity is verified at creation (the operator CLI's --verified). */
  identityVerifiedBy?: 'operator';
  /** Runs in the creating transaction, so that what belongs to the new account is atomic with it. */
  afterInsert?: (tx: Queryable, citizen: Citizen) => Promise<void>;
}

export interface NewCitizen {
  nik: string;
  name: string;
  birthdate: string;
  /** An email, a phone number, or both ('' or absent: none). */
  email?: string;
  phone?: string;
  password: string;
}

/** The sealer purpose of the NIK: its encryption and its lookup hash. */
export const NIK = 'nik';
export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/**
 * A name as on the KTP-el: 2 to 100 letters (any script), spaces, and the marks names use (. , ' -).
 * No digits, links or other signs: the name opens every email we send, so it must not carry a message.
 */
const NAME = /^[\p{L}\p{M}][\p{L}\p{M} .,'’-]{1,99}$/u;
export const isValidName = (name: string) => NAME.test(name);
/** The channel migration 022's trigger announces each changed account on (current). */
const CHANGED = 'citizen_changed';

const COLUMNS = `id, name, to_char(birthdate, 'YYYY-MM-DD') as birthdate, gender, email, email_verified,
  phone, phone_verified, status, assurance, address, updated_at`;

/**
 * Every problem with a new account's details, each an InputError naming its field (a form shows
 * them all at once), or the details normalised: trimmed, email lowercased, phone in E.164, gender
 * from the NIK. An email or a phone number is required; `foreignPrefixes` are the calling codes of
 * other countries accepted besides Indonesia's.
 */
export function checkNewCitizen(input: NewCitizen, foreignPrefixes: readonly string[] = []):
  | { ok: true; citizen: Omit<NewCitizen, 'password' | 'phone' | 'email'> & { gender: 'male' | 'female'; email: string | null; phone: string | null } }
  | { ok: false; problems: InputError[] } {
  const problems: InputError[] = [];
  const nik = compactNik(input.nik);
  const checkedNik = checkNik(nik, input.birthdate);
  if (!checkedNik.ok) problems.push(new InputError(checkedNik.code, checkedNik.code === 'birthdate_invalid' ? 'birthdate' : 'nik'));
  const name = input.name.trim().replace(/\s+/g, ' ');
  if (!isValidName(name)) problems.push(new InputError('name_invalid', 'name'));
  const email = input.email?.trim().toLowerCase() || null;
  if (email !== null && (email.length > 254 || !EMAIL.test(email))) problems.push(new InputError('email_invalid', 'email'));
  const typedPhone = input.phone?.trim() || null;
  const phone = typedPhone === null ? null : normalizePhone(typedPhone, foreignPrefixes) ?? null;
  if (typedPhone !== null && phone === null) problems.push(new InputError('phone_invalid', 'phone'));
  if (email === null && typedPhone === null) problems.push(new InputError('contact_required', 'email'));
  const weak = passwordProblem(input.password, { nik, birthdate: input.birthdate, email: email ?? undefined });
  if (weak) problems.push(new InputError(weak, 'password'));
  if (!checkedNik.ok || problems.length > 0) return { ok: false, problems };
  return { ok: true, citizen: { nik, name, birthdate: checkedNik.birthdate, gender: checkedNik.gender, email, phone } };
}

/** Whom a retention notice goes to (citizen-notices.ts), and the account it is about. */
export type RetentionRecipient = Pick<Citizen, 'id' | 'name' | 'email' | 'phone' | 'phone_verified'>;

/**
 * A registration never verified: no contact proven, the identity not verified, never signed in.
 * The retention job deletes it; every other account is one that may become inactive.
 */
const UNVERIFIED = "not email_verified and not phone_verified and assurance = 'basic' and last_active_at is null";
/** When the account was last active: its last login (or reactivation), else its creation. */
const LAST_ACTIVE = 'greatest(created_at, last_active_at)';
const RECIPIENT = 'id, name, email, phone, phone_verified';

/*
 * This module owns the citizens table: every statement on it is here. Other modules call the
 * store; a statement that belongs to another module's transaction takes that transaction.
 */

/** How many accounts exist (a restored backup's summary). */
export async function countCitizens(on: Queryable): Promise<number> {
  const { rows } = await on.query<{ n: number }>('select count(*)::int as n from citizens');
  return rows[0]!.n;
}

/**
 * Gives account $1 a contact ($2) that one account holds at most: false when `taken` finds
 * another holder, or when one takes it between that check and the update (the unique index decides).
 */
async function writeUnique(tx: Queryable, taken: string, update: string, params: [string, string]): Promise<boolean> {
  if ((await tx.query(taken, params)).rowCount > 0) return false;
  return tx.query(update, params).then(
    () => true,
    (error: unknown) => {
      if (isUniqueViolation(error)) return false;
      throw error;
    },
  );
}

export function createCitizenStore(db: Db, sealer: Sealer, passwords: Passwords, audit: Audit, foreignPrefixes: readonly string[] = []) {
  const nikHash = (nik: string) => sealer.keyedHash(NIK, nik);
  const changes = createChangeCache(CHANGED);
  /** Forgets the account in this process at once; the trigger's notice reaches every process at commit. */
  const changed = <T>(id: string, result: T): T => {
    forgetChanged(CHANGED, id);
    return result;
  };

  async function findById(id: string, on: Queryable = db): Promise<Citizen | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await on.query<Citizen>(`select ${COLUMNS} from citizens where id = $1`, [id]);
    return rows[0];
  }
  const current = changes.view((id) => findById(id));

  /** The accounts the admin console finds: by id, by NIK or by email (exact, case-insensitive). */
  async function records(by: { id: string } | { nik: string } | { email: string }): Promise<CitizenRecord[]> {
    const [where, param] = 'id' in by ? ['c.id = $1', by.id] : 'nik' in by ? ['c.nik_hash = $1', nikHash(by.nik)] : ['lower(c.email) = lower($1)', by.email];
    const { rows } = await db.query<Omit<CitizenRecord, 'maskedNik'> & { nik_enc: string }>(
      `select c.id, c.name, c.email, c.status, c.assurance, c.created_at as "createdAt", c.nik_enc,
         (select max(a.at) from audit_events a where a.type = 'login.succeeded' and a.citizen_id = c.id) as "lastLoginAt"
       from citizens c where ${where}`,
      [param],
    );
    return rows.map(({ nik_enc, ...row }) => ({ ...row, maskedNik: maskNik(sealer.open(NIK, nik_enc)) }));
  }

  /**
   * What a login identifier names: a NIK (16 digits, also typed in groups: compactNik), else a
   * phone number (in any form normalizePhone reads), else an email.
   */
  function readIdentifier(identifier: string): { nik: string } | { phone: string } | { email: string } {
    const login = identifier.trim();
    const nik = typedNik(login);
    if (nik) return { nik };
    const phone = login.includes('@') ? undefined : normalizePhone(login, foreignPrefixes);
    return phone ? { phone } : { email: login };
  }

  /**
   * The account a login identifier names, with its password hash and whether it needs a second
   * step: a NIK, an email, or a verified phone number (readIdentifier).
   */
  async function findByLogin(identifier: string): Promise<LoginRow | undefined> {
    const login = readIdentifier(identifier);
    const [where, param] = 'nik' in login ? ['nik_hash = $1', nikHash(login.nik)]
      : 'phone' in login ? ['phone = $1 and phone_verified', login.phone]
      : ['lower(email) = lower($1)', login.email];
    const { rows } = await db.query<LoginRow>(
      `select ${COLUMNS}, password_hash, ${SECOND_FACTOR_REQUIRED('citizens.id')} as second_factor,
         disabled_inactive_at is not null as disabled
       from citizens where ${where}`,
      [param],
    );
    return rows[0];
  }

  /**
   * The account, when the password is its own and it is active ('disabled' when it is its own and
   * the account was disabled for inactivity). An unknown account costs a password verification
   * too, so that timing does not tell which accounts exist.
   */
  async function passwordHolder(found: LoginRow | undefined, password: string): Promise<Citizen | 'disabled' | undefined> {
    const { ok, rehash } = await passwords.verify(found?.password_hash ?? undefined, password);
    if (!found?.password_hash || !ok) return undefined;
    if (found.status !== 'active') return found.disabled ? 'disabled' : undefined;
    if (rehash) {
      changed(found.id, await db.query('update citizens set password_hash = $2 where id = $1', [found.id, await passwords.hash(password)]));
    }
    return accountOf(found);
  }

  /** What a new password must not contain: the account's NIK, birth date and email. */
  async function passwordContext(id: string) {
    const { rows } = await db.query<{ nik_enc: string; birthdate: string; email: string | null }>(
      "select nik_enc, to_char(birthdate, 'YYYY-MM-DD') as birthdate, email from citizens where id = $1",
      [id],
    );
    const row = rows[0];
    return row ? { nik: sealer.open(NIK, row.nik_enc), birthdate: row.birthdate, email: row.email ?? undefined } : {};
  }

  return {
    findById,
    records,

    /**
     * The account as the provider's requests read it (a login's resume, its tokens, userinfo):
     * from memory while this process hears of every change to citizens (migration 022), so at
     * most a moment behind a change committed by another process.
     */
    current,

    /** Keeps the accounts the provider reads in memory from now on, forgetting each as it changes. */
    followChanges: () => changes.follow(db),

    /** The NIK in clear, for a client allowed the nik scope (or the counter); never logged. */
    async nikOf(id: string, on: Queryable = db): Promise<string | undefined> {
      const { rows } = await on.query<{ nik_enc: string }>('select nik_enc from citizens where id = $1', [id]);
      return rows[0] && sealer.open(NIK, rows[0].nik_enc);
    },

    /** The account, locked for the caller's transaction: changes to it (and to what belongs to it) happen one after the other. */
    async lockById(tx: Queryable, id: string): Promise<Citizen | undefined> {
      if (!isUuid(id)) return undefined;
      const { rows } = await tx.query<Citizen>(`select ${COLUMNS} from citizens where id = $1 for update`, [id]);
      return rows[0];
    },

    /** These accounts, by name (unknown ids are left out). */
    async findByIds(ids: string[]): Promise<Citizen[]> {
      const { rows } = await db.query<Citizen>(`select ${COLUMNS} from citizens where id = any($1::uuid[]) order by name`, [ids.filter(isUuid)]);
      return rows;
    },

    /** The account holding this NIK (as typed: compactNik), as the counter sees it (found by the NIK's keyed hash). */
    async counterView(nik: string): Promise<CounterView | undefined> {
      const { rows } = await db.query<CounterView>(
        `select id, name, to_char(birthdate, 'YYYY-MM-DD') as birthdate, gender, email, phone, phone_verified, assurance,
           verified_at, verification_method
         from citizens where nik_hash = $1`,
        [nikHash(compactNik(nik))],
      );
      return rows[0];
    },

    /** What an account's data export adds to the account itself. */
    async accountDates(id: string): Promise<Record<string, unknown> | undefined> {
      const { rows } = await db.query<Record<string, unknown>>(
        `select verified_at, verification_method, created_at, password_changed_at, last_active_at, unverified_notice_at,
                inactivity_warned_at, disabled_inactive_at from citizens where id = $1`,
        [id],
      );
      return rows[0];
    },

    /**
     * Raises the account to the verified level, recorded with method and time (and the officer, or
     * the upstream); online, only for the name the register matched and an account not yet
     * verified; by an upstream, only an account not yet verified. False when nothing changed.
     */
    async markIdentityVerified(tx: Queryable, id: string, by: IdentityVerifiedBy): Promise<boolean> {
      const { rowCount } = await tx.query(
        `update citizens set assurance = 'verified', verified_at = now(), verified_by = coalesce($2::uuid, verified_by),
           verification_method = $3, verified_upstream = $5, updated_at = now()
         where id = $1 and ($4::text is null or (name = $4 and assurance <> 'verified')) and ($5::text is null or assurance <> 'verified')`,
        [id, by.method === 'counter' ? by.officerId : null, by.method, by.method === 'population_data' ? by.name : null,
          by.method === 'upstream' ? by.upstream : null],
      );
      return changed(id, rowCount === 1);
    },

    /** Every session that began before now ends, the portal's own included (sessionStands). */
    async markSessionsEnded(tx: Queryable, id: string): Promise<void> {
      changed(id, await tx.query('update citizens set sessions_ended_at = now() where id = $1', [id]));
    },

    /**
     * Locks or unlocks the account. Unlocking also lifts a disabling for inactivity and counts as
     * activity (an administrator reactivated it), so that the retention job does not warn at once.
     */
    async setStatus(tx: Queryable, id: string, status: Citizen['status']): Promise<void> {
      changed(id, await tx.query(
        `update citizens set status = $2, updated_at = now(),
           disabled_inactive_at = case when $2 = 'active' then null else disabled_inactive_at end,
           inactivity_warned_at = case when $2 = 'active' then null else inactivity_warned_at end,
           last_active_at = case when $2 = 'active' and disabled_inactive_at is not null then now() else last_active_at end
         where id = $1`,
        [id, status],
      ));
    },

    /** Which of name and address differ from the account's (locked for the caller's transaction), and its assurance. */
    async profileChanges(tx: Queryable, id: string, profile: ProfileFields) {
      const { rows } = await tx.query<{ name: boolean; address: boolean; assurance: string }>(
        `select name is distinct from $2 as name, address is distinct from $3::jsonb as address, assurance
         from citizens where id = $1 for update`,
        [id, profile.name, profile.address && JSON.stringify(profile.address)],
      );
      return rows[0];
    },

    /** Saves name and address (the phone changes only proved: setVerifiedPhone, removePhone). */
    async setProfile(tx: Queryable, id: string, profile: ProfileFields): Promise<void> {
      changed(id, await tx.query('update citizens set name = $2, address = $3::jsonb, updated_at = now() where id = $1', [
        id,
        profile.name,
        profile.address && JSON.stringify(profile.address),
      ]));
    },

    /** Corrects the name of the account (the counter, from the KTP-el it checked); the rest of the profile stays. */
    async correctName(tx: Queryable, id: string, name: string): Promise<void> {
      changed(id, await tx.query('update citizens set name = $2, updated_at = now() where id = $1', [id, name]));
    },

    /** Switches the account to a proven email address; false when another account holds it. */
    changeEmail(tx: Queryable, id: string, email: string): Promise<boolean> {
      return writeUnique(tx, 'select 1 from citizens where lower(email) = lower($2) and id <> $1',
        'update citizens set email = $2, email_verified = true, updated_at = now() where id = $1', [id, email]).then((done) => changed(id, done));
    },

    /** Deletes the account (an officer who verified others leaves them verified, by nobody on record). */
    async delete(tx: Queryable, id: string): Promise<void> {
      await tx.query('update citizens set verified_by = null where verified_by = $1', [id]);
      changed(id, await tx.query('delete from citizens where id = $1', [id]));
    },

    /** How many accounts have an email at this domain (the seeded ones). */
    async countWithEmailDomain(domain: string): Promise<number> {
      const { rows } = await db.query<{ count: string }>('select count(*) from citizens where email like $1', [`%@${domain}`]);
      return Number(rows[0]!.count);
    },

    /** Inserts seeded accounts in one statement, all with this password hash; returns how many were new. */
    async insertSeeded(batch: SeededCitizen[], passwordHash: string): Promise<number> {
      const column = <K extends keyof SeededCitizen>(key: K) => batch.map((c) => c[key]);
      const inserted = await db.query(
        `insert into citizens (id, nik_hash, nik_enc, name, birthdate, gender, email, email_verified, password_hash)
         select id, nik_hash, nik_enc, name, birthdate, gender, email, true, $8
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[])
           as t(id, nik_hash, nik_enc, name, birthdate, gender, email)
         on conflict do nothing`,
        [batch.map(() => randomUUID()), batch.map((c) => nikHash(c.nik)), batch.map((c) => sealer.seal(NIK, c.nik)),
          column('name'), column('birthdate'), column('gender'), column('email'), passwordHash],
      );
      return inserted.rowCount;
    },

    /**
     * Whether a portal session that began at signedInAt (epoch ms) still stands: not when the account
     * is locked or its password changed since (a reset ends every session, the portal one included).
     */
    async sessionStands(citizenId: string, signedInAt: number): Promise<boolean> {
      const { rowCount } = await db.query(
        `select 1 from citizens
         where id = $1 and status = 'active'
           and greatest(password_changed_at, coalesce(sessions_ended_at, password_changed_at)) <= to_timestamp($2::double precision / 1000)`,
        [citizenId, signedInAt],
      );
      return rowCount === 1;
    },

    /** The database's clock (epoch ms): the one audit entries are stamped with. */
    async databaseNow(): Promise<number> {
      const { rows } = await db.query<{ ms: string }>('select (extract(epoch from clock_timestamp()) * 1000)::bigint::text as ms');
      return Number(rows[0]!.ms);
    },

    /**
     * How the account last completed a login for this client since then (databaseNow ms): 'password'
     * (with `secondFactor` when its second factor was used too), 'upstream' (the person signed in
     * at a national identity provider for it, not by its session), or undefined. A sign-in with a
     * phone code alone does not count.
     */
    async freshLogin(id: string, clientId: string, sinceMs: number): Promise<{ method: 'password' | 'upstream'; secondFactor: boolean } | undefined> {
      // 'otp', 'hwk', 'swk': the amr values of a second factor (SecondFactorMethod in login-attempt.ts).
      const { rows } = await db.query<{ password: boolean; second_factor: boolean }>(
        `select details->'amr' ? 'pwd' as password, details->'amr' ?| array['otp', 'hwk', 'swk'] as second_factor
         from audit_events where type = 'login.succeeded' and citizen_id = $1 and client_id = $2
           and at >= to_timestamp($3::double precision / 1000)
           and (details->'amr' ? 'pwd' or (details->'amr' ? 'fed' and details->>'reauthenticated' = 'true'))
         order by at desc, id desc limit 1`,
        [id, clientId, sinceMs],
      );
      const login = rows[0];
      return login && { method: login.password ? 'password' : 'upstream', secondFactor: login.password && login.second_factor };
    },

    async findByEmail(email: string, on: Queryable = db): Promise<Citizen | undefined> {
      const { rows } = await on.query<Citizen>(`select ${COLUMNS} from citizens where lower(email) = lower($1)`, [email.trim()]);
      return rows[0];
    },

    /** The accounts that hold this NIK or this email (at most two). */
    async findHolders(nik: string, email: string | null): Promise<Citizen[]> {
      const { rows } = await db.query<Citizen>(
        `select ${COLUMNS} from citizens where nik_hash = $1 or lower(email) = lower($2)`,
        [nikHash(nik.trim()), email?.trim() ?? null],
      );
      return rows;
    },

    /** The account whose verified number this is. */
    /** The account holding this NIK (found by its keyed hash); the caller checked the NIK's form. */
    async findByNik(nik: string): Promise<Citizen | undefined> {
      const { rows } = await db.query<Citizen>(`select ${COLUMNS} from citizens where nik_hash = $1`, [nikHash(nik)]);
      return rows[0];
    },

    async findByVerifiedPhone(phone: string, on: Queryable = db): Promise<Citizen | undefined> {
      const { rows } = await on.query<Citizen>(`select ${COLUMNS} from citizens where phone = $1 and phone_verified`, [phone]);
      return rows[0];
    },

    /**
     * Makes this number the account's, verified (proved by a code, or checked at the counter);
     * false when another account's verified number it is.
     */
    setVerifiedPhone(tx: Queryable, id: string, phone: string): Promise<boolean> {
      return writeUnique(tx, 'select 1 from citizens where phone = $2 and phone_verified and id <> $1',
        'update citizens set phone = $2, phone_verified = true, updated_at = now() where id = $1', [id, phone]).then((done) => changed(id, done));
    },

    /**
     * Takes the phone number off the account, only when its verified email remains (an account
     * never loses its last verified contact); false when nothing changed.
     */
    async removePhone(tx: Queryable, id: string): Promise<boolean> {
      const { rowCount } = await tx.query(
        `update citizens set phone = null, phone_verified = false, updated_at = now()
         where id = $1 and phone is not null and email is not null and email_verified`,
        [id],
      );
      return changed(id, rowCount === 1);
    },

    /** The first rule a new password breaks for this account (see password-policy.ts). */
    async passwordProblemFor(id: string, password: string) {
      return passwordProblem(password, await passwordContext(id));
    },

    async setPassword(on: Queryable, id: string, password: string): Promise<void> {
      changed(id, await on.query('update citizens set password_hash = $2, password_changed_at = now(), updated_at = now() where id = $1', [
        id,
        await passwords.hash(password),
      ]));
    },

    async markEmailVerified(on: Queryable, id: string): Promise<void> {
      changed(id, await on.query('update citizens set email_verified = true, updated_at = now() where id = $1 and not email_verified', [id]));
    },

    /** Whether the account has a password (one made by an upstream sign-in has none until the citizen sets one). */
    async hasPassword(id: string, on: Queryable = db): Promise<boolean> {
      const { rowCount } = await on.query('select 1 from citizens where id = $1 and password_hash is not null', [id]);
      return rowCount === 1;
    },

    /**
     * Creates an account from an upstream's identity, in the caller's transaction: no password,
     * the contacts unverified (we prove them ourselves), verified by the upstream when it vouches.
     * An email another account holds is left off (not told: the account may add one on /akun,
     * proved); the caller checked the NIK and the name; an InputError when the NIK is taken.
     */
    async createFromUpstream(tx: Queryable, input: { nik: string; name: string; birthdate: string; gender: 'male' | 'female'; email: string | null; phone: string | null; verifiedBy: string | undefined }): Promise<Citizen> {
      const id = randomUUID();
      const { rows } = await tx.query<{ nik_taken: boolean }>(
        'select bool_or(nik_hash = $1) as nik_taken, bool_or(lower(email) = $2::text) as email_taken from citizens where nik_hash = $1 or lower(email) = $2::text',
        [nikHash(input.nik), input.email],
      );
      const taken = rows[0] as { nik_taken: boolean | null; email_taken: boolean | null } | undefined;
      if (taken?.nik_taken) throw new InputError('nik_taken', 'nik');
      const email = taken?.email_taken ? null : input.email;
      await tx.query(
        `insert into citizens (id, nik_hash, nik_enc, name, birthdate, gender, email, phone, password_hash,
           assurance, verified_at, verification_method, verified_upstream)
         values ($1, $2, $3, $4, $5, $6, $7, $8, null, $9, case when $9 = 'verified' then now() end, $10, $11)`,
        [id, nikHash(input.nik), sealer.seal(NIK, input.nik), input.name, input.birthdate, input.gender, email, input.phone,
          input.verifiedBy ? 'verified' : 'basic', input.verifiedBy ? 'upstream' : null, input.verifiedBy ?? null],
      );
      return (await findById(id, tx))!;
    },

    /** Creates an account; an InputError names the field at fault, and nothing is written. */
    async create(input: NewCitizen, { actor, emailVerified = false, identityVerifiedBy, afterInsert }: CreateOptions): Promise<Citizen> {
      const checked = checkNewCitizen(input, foreignPrefixes);
      if (!checked.ok) throw checked.problems[0]!;
      const { nik, name, birthdate, gender, email, phone } = checked.citizen;

      const passwordHash = await passwords.hash(input.password);
      const id = randomUUID();
      return db.transaction(async (tx) => {
        const taken = await tx.query<{ nik_taken: boolean }>(
          'select nik_hash = $1 as nik_taken from citizens where nik_hash = $1 or lower(email) = $2::text',
          [nikHash(nik), email],
        );
        if (taken.rows[0]) throw new InputError(taken.rows[0].nik_taken ? 'nik_taken' : 'email_taken', taken.rows[0].nik_taken ? 'nik' : 'email');
        await tx.query(
          `insert into citizens (id, nik_hash, nik_enc, name, birthdate, gender, email, email_verified, phone, password_hash,
             assurance, verified_at, verification_method)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, case when $11 = 'verified' then now() end, $12)`,
          [id, nikHash(nik), sealer.seal(NIK, nik), name, birthdate, gender, email, emailVerified, phone, passwordHash,
            identityVerifiedBy ? 'verified' : 'basic', identityVerifiedBy ?? null],
        );
        await audit({ type: 'citizen.created', actor, citizenId: id }, tx);
        const citizen = (await findById(id, tx))!;
        await afterInsert?.(tx, citizen);
        return citizen;
      });
    },

    /**
     * Whose failures a login with this identifier counts against: the account when it exists, else
     * the identifier itself (keyed hash), so that an unknown one locks the same way a known one does.
     * `authenticate` then checks a password against the account read here, without reading it again.
     */
    async loginSubject(identifier: string): Promise<LoginSubject> {
      const mark = current.mark();
      const found = await findByLogin(identifier);
      // The login's next requests ask for this account by id (current).
      if (found) current.keep(found.id, accountOf(found), mark);
      const authenticate = (password: string) => passwordHolder(found, password);
      if (!found) {
        // An unknown NIK or phone number locks alike in every form it is typed in (08..., +628...).
        const login = readIdentifier(identifier);
        const key = 'nik' in login ? login.nik : 'phone' in login ? login.phone : login.email.toLowerCase();
        return { key: sealer.keyedHash('login-identifier', key), authenticate };
      }
      return { key: found.id, citizen: accountOf(found), secondFactorRequired: found.second_factor, disabled: found.disabled, authenticate };
    },

    /**
     * Copies the logins audited since then (all when null) to the accounts' last_active_at, and
     * takes back the inactivity warning of an account that signed in after it. Returns how many changed.
     */
    async copyLastLogins(since: Date | null): Promise<number> {
      const { rowCount } = await db.query(
        `update citizens c set last_active_at = l.at,
           inactivity_warned_at = case when l.at > c.inactivity_warned_at then null else c.inactivity_warned_at end
         from (select citizen_id, max(at) as at from audit_events
               where type = 'login.succeeded' and citizen_id is not null and at >= coalesce($1::timestamptz, '-infinity')
               group by citizen_id) l
         where c.id = l.citizen_id and (c.last_active_at is null or c.last_active_at < l.at)`,
        [since],
      );
      return rowCount;
    },

    /** Registrations never verified for `days` and not yet told: marked told (at most `limit`), in the caller's transaction. */
    async markUnverifiedNoticed(tx: Queryable, days: number, limit: number): Promise<RetentionRecipient[]> {
      const { rows } = await tx.query<RetentionRecipient>(
        `update citizens set unverified_notice_at = now()
         where id in (select id from citizens where ${UNVERIFIED} and unverified_notice_at is null
                        and created_at < now() - make_interval(days => $1) limit $2 for update skip locked)
         returning ${RECIPIENT}`,
        [days, limit],
      );
      return rows;
    },

    /**
     * Deletes registrations never verified for `days` that were told at least `noticeDays` ago (at
     * most `limit`), in the caller's transaction; returns their ids.
     */
    async deleteUnverified(tx: Queryable, days: number, noticeDays: number, limit: number): Promise<string[]> {
      const { rows } = await tx.query<{ id: string }>(
        `delete from citizens
         where id in (select id from citizens where ${UNVERIFIED}
                        and created_at < now() - make_interval(days => $1)
                        and unverified_notice_at < now() - make_interval(days => $2)
                        and not exists (select 1 from citizens v where v.verified_by = citizens.id)
                      limit $3 for update skip locked)
         returning id`,
        [days, noticeDays, limit],
      );
      for (const { id } of rows) forgetChanged(CHANGED, id);
      return rows.map((row) => row.id);
    },

    /** Active accounts inactive for `days` and not yet warned: marked warned (at most `limit`), in the caller's transaction. */
    async markInactiveWarned(tx: Queryable, days: number, limit: number): Promise<RetentionRecipient[]> {
      const { rows } = await tx.query<RetentionRecipient>(
        `update citizens set inactivity_warned_at = now()
         where id in (select id from citizens where status = 'active' and not (${UNVERIFIED}) and inactivity_warned_at is null
                        and ${LAST_ACTIVE} < now() - make_interval(days => $1) limit $2 for update skip locked)
         returning ${RECIPIENT}`,
        [days, limit],
      );
      return rows;
    },

    /**
     * Disables (locks, not deletes) the accounts warned at least `graceDays` ago and not active
     * since (at most `limit`), in the caller's transaction.
     */
    async disableInactive(tx: Queryable, graceDays: number, limit: number): Promise<RetentionRecipient[]> {
      const { rows } = await tx.query<RetentionRecipient>(
        `update citizens set status = 'locked', disabled_inactive_at = now(), updated_at = now()
         where id in (select id from citizens where status = 'active' and inactivity_warned_at < now() - make_interval(days => $1)
                        and ${LAST_ACTIVE} < inactivity_warned_at limit $2 for update skip locked)
         returning ${RECIPIENT}`,
        [graceDays, limit],
      );
      for (const { id } of rows) forgetChanged(CHANGED, id);
      return rows;
    },

    /** Whether the account was disabled for inactivity (by the retention job; status locked). */
    async disabledForInactivity(id: string): Promise<boolean> {
      const { rowCount } = await db.query('select 1 from citizens where id = $1 and disabled_inactive_at is not null', [id]);
      return rowCount === 1;
    },

    /** Whether this is the password of this active account (to confirm an action of a signed-in citizen). */
    async passwordMatches(id: string, password: string): Promise<boolean> {
      if (!isUuid(id)) return false;
      const { rows } = await db.query<{ password_hash: string | null }>("select password_hash from citizens where id = $1 and status = 'active'", [id]);
      return (await passwords.verify(rows[0]?.password_hash ?? undefined, password)).ok && rows[0]?.password_hash != null;
    },

    /** The active citizen whose NIK, email or verified phone and password these are, or undefined. */
    async authenticate(identifier: string, password: string): Promise<Citizen | undefined> {
      const holder = await passwordHolder(await findByLogin(identifier), password);
      return holder === 'disabled' ? undefined : holder;
    },
  };
}

export type CitizenStore = ReturnType<typeof createCitizenStore>;
