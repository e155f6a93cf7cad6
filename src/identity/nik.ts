/**
 * The NIK (Nomor Induk Kependudukan): 16 digits, no check digit.
 *
 *   digits  1-2   province       (known code)
 *           3-4   kabupaten/kota (known code, current or retired)
 *           5-6   kecamatan      (01-99; not checked against a list, see wilayah/README.md)
 *           7-12  birth date DDMMYY, 40 added to DD for women
 *           13-16 serial, 0001-9999
 *
 * The region codes are those of the place where the NIK was first issued, so a Kediri resident
 * may hold a NIK from anywhere. The NIK is sensitive personal data: never log it or put it in a
 * message; the results below carry only error codes and derived facts.
 */
import { readFileSync } from 'node:fs';

export const NIK_ERROR_CODES = [
  'nik_format',
  'nik_province',
  'nik_regency',
  'nik_district',
  'nik_date',
  'nik_serial',
  'nik_birthdate_mismatch',
  'birthdate_invalid',
] as const;

/** Each failure has its own message in views/locales/<lang>/nik.json (key "nik.<code>"). */
export type NikErrorCode = (typeof NIK_ERROR_CODES)[number];

export type Gender = 'male' | 'female';

/** What a NIK says by itself. Region codes are strings, as in the region lists. */
export interface NikFacts {
  /** Digits 1-2, e.g. '35' (Jawa Timur). */
  province: string;
  /** Digits 1-4, e.g. '3571' (Kota Kediri). May be a retired code. */
  regency: string;
  /** Digits 1-6, e.g. '357101' (Mojoroto). Not checked against a list. */
  district: string;
  /** Day of birth, 1-31 (the 40 added for women already taken off). */
  day: number;
  /** Month of birth, 1-12. */
  month: number;
  /** Last two digits of the birth year, 0-99. The century is not in the NIK. */
  yy: number;
  gender: Gender;
  /** Digits 13-16, '0001' to '9999'. */
  serial: string;
}

export type NikParseResult = { ok: true; facts: NikFacts } | { ok: false; code: NikErrorCode };
export type NikCheckResult =
  | { ok: true; gender: Gender; birthdate: string }
  | { ok: false; code: NikErrorCode };

/** The `code` column of one of the region CSVs beside this file (header skipped). */
function regionCodes(file: string): string[] {
  const text = readFileSync(new URL(`./wilayah/${file}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => line.slice(0, line.indexOf(',')));
}

const currentCodes = regionCodes('wilayah-provinsi-kabkota.csv');
const PROVINCES = new Set(currentCodes.filter((code) => code.length === 2));
const REGENCIES = new Set([
  ...currentCodes.filter((code) => code.length === 4),
  ...regionCodes('wilayah-kabkota-retired.csv'),
]);

const fail = (code: NikErrorCode) => ({ ok: false, code }) as const;

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(month: number, leapYear: boolean): number {
  if (month === 2) return leapYear ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * A NIK as a person types it, maybe in the groups printed on the KTP-el ("3571 0123 0588 0001",
 * or with dots or dashes): its digits when spaces, dots and dashes stand only between digits;
 * otherwise the text trimmed, for parseNik to refuse. Phone numbers are normalised alike (phone.ts).
 */
export function compactNik(typed: string): string {
  const text = typed.trim();
  return /^\d+(?:[\s.-]+\d+)*$/.test(text) ? text.replace(/[\s.-]/g, '') : text;
}

/** The NIK a person typed (compactNik) when it has a NIK's shape, 16 digits; undefined for anything else (an email, a phone number). */
export function typedNik(typed: string): string | undefined {
  const nik = compactNik(typed);
  return /^\d{16}$/.test(nik) ? nik : undefined;
}

/** Structural checks only (no birth date from the person). Surrounding whitespace is ignored. */
export function parseNik(nik: string): NikParseResult {
  const digits = typeof nik === 'string' ? nik.trim() : '';
  if (!/^[0-9]{16}$/.test(digits)) return fail('nik_format');
  if (!PROVINCES.has(digits.slice(0, 2))) return fail('nik_province');
  if (!REGENCIES.has(digits.slice(0, 4))) return fail('nik_regency');
  if (digits.slice(4, 6) === '00') return fail('nik_district');

  const rawDay = Number(digits.slice(6, 8));
  const month = Number(digits.slice(8, 10));
  const yy = Number(digits.slice(10, 12));
  const gender: Gender = rawDay > 40 ? 'female' : 'male';
  const day = gender === 'female' ? rawDay - 40 : rawDay;
  // Without the century, 29 February is allowed when 19YY or 20YY could be a leap year, which is
  // exactly when YY % 4 === 0 (for YY = 00, 1900 is not a leap year but 2000 is). checkNik settles
  // the year with the birth date the person enters.
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(month, yy % 4 === 0)) {
    return fail('nik_date');
  }

  const serial = digits.slice(12);
  if (serial === '0000') return fail('nik_serial');

  return {
    ok: true,
    facts: {
      province: digits.slice(0, 2),
      regency: digits.slice(0, 4),
      district: digits.slice(0, 6),
      day,
      month,
      yy,
      gender,
      serial,
    },
  };
}

/** A real calendar date written YYYY-MM-DD, or null. */
function parseIsoDate(text: string): { year: number; month: number; day: number } | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(month, isLeapYear(year))) return null;
  return { year, month, day };
}

/** Today's date (YYYY-MM-DD) in Kediri: WIB, UTC+7 all year round. */
function todayInKediri(now: Date): string {
  return new Date(now.getTime() + 7 * 60 * 60 * 1000).toISOString().slice(0, 10);
}

/**
 * Full check: structure plus agreement with the birth date the person entered (YYYY-MM-DD).
 * The century comes from the entered date. Returns the gender derived from the NIK and the birth
 * date. `now` is only for tests.
 */
export function checkNik(nik: string, birthdate: string, now: Date = new Date()): NikCheckResult {
  const parsed = parseNik(nik);
  if (!parsed.ok) return parsed;

  const entered = typeof birthdate === 'string' ? birthdate.trim() : '';
  const born = parseIsoDate(entered);
  if (!born || entered > todayInKediri(now)) return fail('birthdate_invalid');

  const { day, month, yy, gender } = parsed.facts;
  if (born.day !== day || born.month !== month || born.year % 100 !== yy) {
    return fail('nik_birthdate_mismatch');
  }
  // The NIK's date is now the entered date, which parseIsoDate found real in its full year: so a
  // NIK with 29 February passes only for a leap year (2000-02-29 yes; 1900-02-29 was refused above).
  return { ok: true, gender, birthdate: entered };
}

/** 3571 **** **** 0001: enough for the citizen to recognise, not enough for someone looking on. */
export const maskNik = (nik: string) => `${nik.slice(0, 4)} **** **** ${nik.slice(12)}`;
