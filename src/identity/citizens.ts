import { randomUUID } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Sealer } from '../secrets.js';
import { checkNik } from './nik.js';
import { PASSWORD_MAX, PASSWORD_MIN, type Passwords } from './passwords.js';

export interface Citizen {
  id: string;
  name: string;
  birthdate: string;
  gender: 'male' | 'female';
  email: string;
  email_verified: boolean;
  phone: string | null;
  status: 'active' | 'locked';
  updated_at: Date;
}

export interface NewCitizen {
  nik: string;
  name: string;
  birthdate: string;
  email: string;
  phone?: string;
  password: string;
}

const NIK = 'nik';
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE = /^\+?[0-9]{8,15}$/;
const COLUMNS = `id, name, to_char(birthdate, 'YYYY-MM-DD') as birthdate, gender, email, email_verified,
  phone, status, updated_at`;

export function createCitizenStore(db: Db, sealer: Sealer, passwords: Passwords, audit: Audit) {
  const nikHash = (nik: string) => sealer.keyedHash(NIK, nik);

  async function findById(id: string): Promise<Citizen | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const { rows } = await db.query<Citizen>(`select ${COLUMNS} from citizens where id = $1`, [id]);
    return rows[0];
  }

  return {
    findById,

    /** Creates an account; an InputError names the field at fault, and nothing is written. */
    async create(input: NewCitizen, actor: string): Promise<Citizen> {
      const nik = input.nik.trim();
      const checked = checkNik(nik, input.birthdate);
      if (!checked.ok) throw new InputError(checked.code, checked.code === 'birthdate_invalid' ? 'birthdate' : 'nik');
      const name = input.name.trim().replace(/\s+/g, ' ');
      if (name.length < 2 || name.length > 100) throw new InputError('name_invalid', 'name');
      const email = input.email.trim().toLowerCase();
      if (!EMAIL.test(email) || email.length > 254) throw new InputError('email_invalid', 'email');
      const phone = input.phone?.replace(/[\s-]/g, '') || null;
      if (phone !== null && !PHONE.test(phone)) throw new InputError('phone_invalid', 'phone');
      if (input.password.length < PASSWORD_MIN || input.password.length > PASSWORD_MAX) {
        throw new InputError('password_length', 'password');
      }
      if (input.password.includes(nik)) throw new InputError('password_contains_nik', 'password');

      const passwordHash = await passwords.hash(input.password);
      const id = randomUUID();
      return db.transaction(async (tx) => {
        const taken = await tx.query<{ nik_taken: boolean }>(
          'select nik_hash = $1 as nik_taken from citizens where nik_hash = $1 or lower(email) = $2',
          [nikHash(nik), email],
        );
        if (taken.rows[0]) throw new InputError(taken.rows[0].nik_taken ? 'nik_taken' : 'email_taken', taken.rows[0].nik_taken ? 'nik' : 'email');
        await tx.query(
          `insert into citizens (id, nik_hash, nik_enc, name, birthdate, gender, email, phone, password_hash)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [id, nikHash(nik), sealer.seal(NIK, nik), name, checked.birthdate, checked.gender, email, phone, passwordHash],
        );
        await audit({ type: 'citizen.created', actor, citizenId: id }, tx);
        const { rows } = await tx.query<Citizen>(`select ${COLUMNS} from citizens where id = $1`, [id]);
        return rows[0]!;
      });
    },

    /**
     * The citizen whose NIK or email and password these are, or undefined. An unknown account costs
     * a password verification too, so that timing does not tell which accounts exist.
     */
    async authenticate(identifier: string, password: string): Promise<Citizen | undefined> {
      const login = identifier.trim();
      const byNik = /^\d{16}$/.test(login);
      const { rows } = await db.query<Citizen & { password_hash: string }>(
        `select ${COLUMNS}, password_hash from citizens where ${byNik ? 'nik_hash = $1' : 'lower(email) = lower($1)'}`,
        [byNik ? nikHash(login) : login],
      );
      const found = rows[0];
      const { ok, rehash } = await passwords.verify(found?.password_hash, password);
      if (!found || !ok || found.status !== 'active') return undefined;
      if (rehash) {
        await db.query('update citizens set password_hash = $2 where id = $1', [found.id, await passwords.hash(password)]);
      }
      const { password_hash: _, ...citizen } = found;
      return citizen;
    },
  };
}

export type CitizenStore = ReturnType<typeof createCitizenStore>;
