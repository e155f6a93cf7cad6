import type { Config } from '../config.js';
import type { CitizenStore } from './citizens.js';
import type { Passwords } from './passwords.js';

/** Seeded accounts' emails are at this reserved domain (RFC 6761): no message can reach one. */
export const SEED_EMAIL_DOMAIN = 'seed.kediri-id.invalid';
const BATCH = 5000;
/** Birth dates cycle through this many days from 1940-01-01; the NIK serial counts the cycles. */
const DAYS = 25_000;
const FIRST_DAY = Date.UTC(1940, 0, 1);

/**
 * Why seeding is refused for this configuration, or undefined: it is allowed outside production,
 * on the embedded database and on a PostgreSQL database whose name says it is for tests or
 * benchmarks.
 */
export function seedRefusal(config: Config): string | undefined {
  if (config.production) return 'refused in production (NODE_ENV=production)';
  if (!config.databaseUrl) return undefined;
  const name = decodeURIComponent(new URL(config.databaseUrl).pathname.slice(1));
  if (/test|bench/i.test(name)) return undefined;
  return `refused on the PostgreSQL database "${name}": seeding is for the embedded database or a database whose name contains "test" or "bench"`;
}

/**
 * The seeded citizen number i: a valid NIK of Kota Kediri (region 3571, district 99) whose birth
 * date and serial come from i, so that every i has its own; odd numbers are women.
 */
export function seededCitizen(i: number) {
  const date = new Date(FIRST_DAY + (i % DAYS) * 86_400_000);
  const gender = i % 2 === 1 ? 'female' : 'male';
  const day = date.getUTCDate() + (gender === 'female' ? 40 : 0);
  const two = (n: number) => String(n).padStart(2, '0');
  const serial = String(Math.floor(i / DAYS) + 1).padStart(4, '0');
  return {
    nik: `357199${two(day)}${two(date.getUTCMonth() + 1)}${two(date.getUTCFullYear() % 100)}${serial}`,
    name: `Warga Uji ${i}`,
    birthdate: date.toISOString().slice(0, 10),
    gender,
    email: `warga${i}@${SEED_EMAIL_DOMAIN}`,
  };
}

/**
 * Tops the seeded citizens up to `total` (verified email, basic assurance), all with one password
 * hashed once, in batches of 5,000 rows per statement. Returns how many it created and how long
 * it took. Seeded citizen i signs in as warga<i>@seed.kediri-id.invalid.
 */
export async function seedCitizens(citizens: CitizenStore, passwords: Passwords, total: number, password: string) {
  const started = Date.now();
  const existing = await citizens.countWithEmailDomain(SEED_EMAIL_DOMAIN);
  const passwordHash = await passwords.hash(password);
  let created = 0;
  for (let from = existing; from < total; from += BATCH) {
    const batch = Array.from({ length: Math.min(total, from + BATCH) - from }, (_, k) => seededCitizen(from + k));
    created += await citizens.insertSeeded(batch, passwordHash);
  }
  return { created, total: existing + created, seconds: (Date.now() - started) / 1000 };
}
