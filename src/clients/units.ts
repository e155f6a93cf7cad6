import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import { announceUnitChange } from './client-cache.js';
import { clientCountsByUnit } from './clients.js';

export interface Unit {
  slug: string;
  name: string;
  hasLogo: boolean;
  clients: number;
}

const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const LOGO_MAX_BYTES = 100_000;
/** The first bytes of the image types a logo may be: what the file is, not what it claims. */
const SIGNATURES: Record<'image/png' | 'image/jpeg', number[]> = {
  'image/png': [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  'image/jpeg': [0xff, 0xd8, 0xff],
};

/** The type of an image by its first bytes, or undefined for anything else (SVG included: it can carry script). */
export function imageType(bytes: Buffer): 'image/png' | 'image/jpeg' | undefined {
  return (Object.keys(SIGNATURES) as (keyof typeof SIGNATURES)[]).find((type) => SIGNATURES[type].every((b, i) => bytes[i] === b));
}

/** The city's units (data that administrators add to, not a fixed list): slug, name and logo. */
export function createUnits(db: Db, audit: Audit) {
  const checkName = (name: string) => {
    const tidy = name.trim().replace(/\s+/g, ' ');
    if (tidy.length < 2 || tidy.length > 100) throw new InputError('unit_name_invalid', 'name');
    return tidy;
  };

  return {
    async list(): Promise<Unit[]> {
      const { rows } = await db.query<Omit<Unit, 'clients'>>('select slug, name, logo is not null as "hasLogo" from units order by name');
      const counts = await clientCountsByUnit(db);
      return rows.map((unit) => ({ ...unit, clients: counts.get(unit.slug) ?? 0 }));
    },

    async create(slug: string, name: string, actor: string, ip: string): Promise<void> {
      const key = slug.trim().toLowerCase();
      if (!SLUG.test(key)) throw new InputError('unit_slug_invalid', 'slug');
      const tidy = checkName(name);
      await db.transaction(async (tx) => {
        const added = await tx.query('insert into units (slug, name) values ($1, $2) on conflict do nothing', [key, tidy]);
        if (added.rowCount !== 1) throw new InputError('unit_slug_taken', 'slug');
        await audit({ type: 'unit.created', actor, ip, details: { unit: key, after: { name: tidy } } }, tx);
      });
    },

    async rename(slug: string, name: string, actor: string, ip: string): Promise<void> {
      const tidy = checkName(name);
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ name: string }>('select name from units where slug = $1 for update', [slug]);
        if (!rows[0]) throw new InputError('unit_unknown');
        await tx.query('update units set name = $2 where slug = $1', [slug, tidy]);
        await announceUnitChange(tx);
        await audit({ type: 'unit.updated', actor, ip, details: { unit: slug, before: { name: rows[0].name }, after: { name: tidy } } }, tx);
      });
    },

    /** Sets the logo: a PNG or JPEG of at most LOGO_MAX_BYTES, judged by its content. */
    async setLogo(slug: string, bytes: Buffer, actor: string, ip: string): Promise<void> {
      const type = imageType(bytes);
      if (!type || bytes.length > LOGO_MAX_BYTES) throw new InputError('unit_logo_invalid', 'logo');
      await db.transaction(async (tx) => {
        const set = await tx.query('update units set logo = $2, logo_type = $3 where slug = $1', [slug, bytes, type]);
        if (set.rowCount !== 1) throw new InputError('unit_unknown');
        await announceUnitChange(tx);
        await audit({ type: 'unit.updated', actor, ip, details: { unit: slug, after: { logo: type, bytes: bytes.length } } }, tx);
      });
    },

    async logo(slug: string): Promise<{ bytes: Buffer; type: string } | undefined> {
      const { rows } = await db.query<{ logo: Buffer | Uint8Array; logo_type: string }>(
        'select logo, logo_type from units where slug = $1 and logo is not null',
        [slug],
      );
      return rows[0] && { bytes: Buffer.from(rows[0].logo), type: rows[0].logo_type };
    },
  };
}

export type Units = ReturnType<typeof createUnits>;
