import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { NIK_ERROR_CODES, checkNik, compactNik, parseNik } from '../../src/identity/nik.js';

/**
 * Builds a made-up NIK from its parts, written exactly as they appear in the NIK:
 * regency = digits 1-4, district = 5-6, dd/mm/yy = 7-12 (dd already +40 for women), serial = 13-16.
 * Defaults: a man born 17 August 1990, first issued in Mojoroto, Kota Kediri (357101).
 */
function makeNik(parts: { regency?: string; district?: string; dd?: string; mm?: string; yy?: string; serial?: string } = {}): string {
  const { regency = '3571', district = '01', dd = '17', mm = '08', yy = '90', serial = '0001' } = parts;
  return regency + district + dd + mm + yy + serial;
}

/** The dd digits for a woman born on `day`. */
const femaleDay = (day: number) => String(day + 40);

const KEDIRI = makeNik(); // 3571011708900001

describe('parseNik: a valid NIK', () => {
  test('a Kota Kediri NIK gives its facts', () => {
    expect(KEDIRI).toBe('3571011708900001');
    expect(parseNik(KEDIRI)).toEqual({
      ok: true,
      facts: {
        province: '35',
        regency: '3571',
        district: '357101',
        day: 17,
        month: 8,
        yy: 90,
        gender: 'male',
        serial: '0001',
      },
    });
  });

  test('surrounding whitespace is ignored', () => {
    expect(parseNik(`  ${KEDIRI}\n`).ok).toBe(true);
    expect(parseNik(`\t${KEDIRI} `).ok).toBe(true);
  });

  test('a NIK first issued elsewhere is valid (Jakarta Pusat, Kabupaten Kediri)', () => {
    expect(parseNik(makeNik({ regency: '3171' })).ok).toBe(true);
    expect(parseNik(makeNik({ regency: '3506' })).ok).toBe(true);
  });

  test('a retired Papua kabupaten/kota code is still valid (9101 Merauke, 9271 Kota Sorong)', () => {
    expect(parseNik(makeNik({ regency: '9101' }))).toMatchObject({ ok: true, facts: { province: '91', regency: '9101' } });
    expect(parseNik(makeNik({ regency: '9271' })).ok).toBe(true);
    // and so is the current code of the same kabupaten (9301 Merauke, Papua Selatan)
    expect(parseNik(makeNik({ regency: '9301' })).ok).toBe(true);
  });

  test('kecamatan codes are not checked against a list (Kota Kediri has only 01-03)', () => {
    expect(parseNik(makeNik({ district: '04' })).ok).toBe(true);
    expect(parseNik(makeNik({ district: '99' }))).toMatchObject({ ok: true, facts: { district: '357199' } });
  });

  test('serial 0001 and 9999 are valid', () => {
    expect(parseNik(makeNik({ serial: '0001' })).ok).toBe(true);
    expect(parseNik(makeNik({ serial: '9999' }))).toMatchObject({ ok: true, facts: { serial: '9999' } });
  });
});

describe('parseNik: gender from the day', () => {
  test('day 01-31 is a man', () => {
    expect(parseNik(makeNik({ dd: '01', mm: '01' }))).toMatchObject({ ok: true, facts: { day: 1, gender: 'male' } });
    expect(parseNik(makeNik({ dd: '31', mm: '12' }))).toMatchObject({ ok: true, facts: { day: 31, gender: 'male' } });
  });

  test('day 41-71 is a woman, and 40 is taken off the day', () => {
    expect(parseNik(makeNik({ dd: '41', mm: '01' }))).toMatchObject({ ok: true, facts: { day: 1, gender: 'female' } });
    expect(parseNik(makeNik({ dd: femaleDay(17) }))).toMatchObject({
      ok: true,
      facts: { day: 17, month: 8, gender: 'female' },
    });
    expect(parseNik(makeNik({ dd: '71', mm: '01' }))).toMatchObject({ ok: true, facts: { day: 31, gender: 'female' } });
  });
});

describe('parseNik: the date', () => {
  test.each([
    ['day 00', '00', '08'],
    ['day 32', '32', '08'],
    ['day 40 (neither a man nor a woman)', '40', '08'],
    ['day 72 (a woman born on the 32nd)', '72', '08'],
    ['day 99', '99', '08'],
    ['month 00', '17', '00'],
    ['month 13', '17', '13'],
    ['31 April', '31', '04'],
    ['31 April, woman', femaleDay(31), '04'],
    ['31 June', '31', '06'],
    ['30 February', '30', '02'],
  ])('%s is refused', (_name, dd, mm) => {
    expect(parseNik(makeNik({ dd, mm }))).toEqual({ ok: false, code: 'nik_date' });
  });

  test('30 April and 31 May are real dates', () => {
    expect(parseNik(makeNik({ dd: '30', mm: '04' })).ok).toBe(true);
    expect(parseNik(makeNik({ dd: '31', mm: '05' })).ok).toBe(true);
  });

  test('29 February is allowed when 19YY or 20YY can be a leap year', () => {
    for (const yy of ['00', '04', '96']) {
      expect(parseNik(makeNik({ dd: '29', mm: '02', yy })).ok).toBe(true);
      expect(parseNik(makeNik({ dd: femaleDay(29), mm: '02', yy })).ok).toBe(true);
    }
  });

  test('29 February is refused when neither 19YY nor 20YY is a leap year', () => {
    for (const yy of ['01', '02', '03', '99']) {
      expect(parseNik(makeNik({ dd: '29', mm: '02', yy }))).toEqual({ ok: false, code: 'nik_date' });
      expect(parseNik(makeNik({ dd: femaleDay(29), mm: '02', yy }))).toEqual({ ok: false, code: 'nik_date' });
    }
  });
});

describe('parseNik: refusals', () => {
  test.each([
    ['15 digits', KEDIRI.slice(0, 15)],
    ['17 digits', `${KEDIRI}1`],
    ['empty', ''],
    ['only spaces', '   '],
    ['a letter', `${KEDIRI.slice(0, 15)}A`],
    ['an inner space', `3571 011708900001`],
    ['dots', '35.71.01.170890.0001'],
    ['a dash', '357101-1708900001'],
    ['a sign', '+357101170890001'],
    ['full-width digits', '３５７１０１１７０８９００００１'],
    ['Arabic-Indic digits', '٣٥٧١٠١١٧٠٨٩٠٠٠٠١'],
  ])('%s: nik_format', (_name, nik) => {
    expect(parseNik(nik)).toEqual({ ok: false, code: 'nik_format' });
  });

  test('a value that is not a string (e.g. a missing form field) is nik_format, not a crash', () => {
    expect(parseNik(undefined as unknown as string)).toEqual({ ok: false, code: 'nik_format' });
    expect(parseNik(3571011708900001 as unknown as string)).toEqual({ ok: false, code: 'nik_format' });
  });

  test('unknown province: nik_province', () => {
    expect(parseNik(makeNik({ regency: '9901' }))).toEqual({ ok: false, code: 'nik_province' });
    expect(parseNik(makeNik({ regency: '0071' }))).toEqual({ ok: false, code: 'nik_province' });
    expect(parseNik(makeNik({ regency: '1001' }))).toEqual({ ok: false, code: 'nik_province' });
  });

  test('unknown kabupaten/kota in a known province: nik_regency', () => {
    expect(parseNik(makeNik({ regency: '3599' }))).toEqual({ ok: false, code: 'nik_regency' });
    expect(parseNik(makeNik({ regency: '3500' }))).toEqual({ ok: false, code: 'nik_regency' });
    expect(parseNik(makeNik({ regency: '3180' }))).toEqual({ ok: false, code: 'nik_regency' });
  });

  test('kecamatan 00: nik_district', () => {
    expect(parseNik(makeNik({ district: '00' }))).toEqual({ ok: false, code: 'nik_district' });
  });

  test('serial 0000: nik_serial', () => {
    expect(parseNik(makeNik({ serial: '0000' }))).toEqual({ ok: false, code: 'nik_serial' });
  });

  test('the first failing rule, in digit order, is the one reported', () => {
    expect(parseNik(makeNik({ regency: '9999', district: '00', dd: '00', serial: '0000' }))).toEqual({ ok: false, code: 'nik_province' });
    expect(parseNik(makeNik({ regency: '3599', district: '00', dd: '00', serial: '0000' }))).toEqual({ ok: false, code: 'nik_regency' });
    expect(parseNik(makeNik({ district: '00', dd: '00', serial: '0000' }))).toEqual({ ok: false, code: 'nik_district' });
    expect(parseNik(makeNik({ dd: '00', serial: '0000' }))).toEqual({ ok: false, code: 'nik_date' });
  });
});

describe('checkNik: agreement with the entered birth date', () => {
  test('a valid Kediri NIK for a man', () => {
    expect(checkNik(KEDIRI, '1990-08-17')).toEqual({ ok: true, gender: 'male', birthdate: '1990-08-17' });
  });

  test('a valid NIK for a woman: the day in the NIK is the birth day plus 40', () => {
    const nik = makeNik({ regency: '3171', dd: femaleDay(5), mm: '11', yy: '85', serial: '0042' });
    expect(checkNik(nik, '1985-11-05')).toEqual({ ok: true, gender: 'female', birthdate: '1985-11-05' });
    // the raw NIK day is not a birth day
    expect(checkNik(nik, '1985-11-45')).toEqual({ ok: false, code: 'birthdate_invalid' });
  });

  test('a retired Papua code with a matching birth date', () => {
    const nik = makeNik({ regency: '9101', district: '02', dd: '03', mm: '01', yy: '99' });
    expect(checkNik(nik, '1999-01-03')).toEqual({ ok: true, gender: 'male', birthdate: '1999-01-03' });
  });

  test('surrounding whitespace in both fields is ignored; the trimmed date is returned', () => {
    expect(checkNik(` ${KEDIRI} `, ' 1990-08-17\n')).toEqual({ ok: true, gender: 'male', birthdate: '1990-08-17' });
  });

  test('the century comes from the entered date: YY=05 is 1905 or 2005', () => {
    const nik = makeNik({ dd: '15', mm: '06', yy: '05' });
    expect(checkNik(nik, '1905-06-15')).toEqual({ ok: true, gender: 'male', birthdate: '1905-06-15' });
    expect(checkNik(nik, '2005-06-15')).toEqual({ ok: true, gender: 'male', birthdate: '2005-06-15' });
  });

  test('29 February in a leap year: 2000 and 1996', () => {
    expect(checkNik(makeNik({ dd: '29', mm: '02', yy: '00' }), '2000-02-29')).toEqual({
      ok: true,
      gender: 'male',
      birthdate: '2000-02-29',
    });
    expect(checkNik(makeNik({ dd: femaleDay(29), mm: '02', yy: '96' }), '1996-02-29')).toEqual({
      ok: true,
      gender: 'female',
      birthdate: '1996-02-29',
    });
  });

  test('29 February in a year that is not a leap year: 2001 and 1900', () => {
    // YY=01: no century makes it a leap year, so the NIK itself is wrong
    expect(checkNik(makeNik({ dd: '29', mm: '02', yy: '01' }), '2001-02-29')).toEqual({ ok: false, code: 'nik_date' });
    // YY=00 could be 2000, so the NIK passes alone; but 1900 was not a leap year
    expect(checkNik(makeNik({ dd: '29', mm: '02', yy: '00' }), '1900-02-29')).toEqual({ ok: false, code: 'birthdate_invalid' });
    expect(checkNik(makeNik({ dd: '29', mm: '02', yy: '00' }), '1900-02-28')).toEqual({
      ok: false,
      code: 'nik_birthdate_mismatch',
    });
  });

  test('birth date mismatch: day, month, or end of the year', () => {
    expect(checkNik(KEDIRI, '1990-08-18')).toEqual({ ok: false, code: 'nik_birthdate_mismatch' });
    expect(checkNik(KEDIRI, '1990-07-17')).toEqual({ ok: false, code: 'nik_birthdate_mismatch' });
    expect(checkNik(KEDIRI, '1991-08-17')).toEqual({ ok: false, code: 'nik_birthdate_mismatch' });
    expect(checkNik(KEDIRI, '1980-08-17')).toEqual({ ok: false, code: 'nik_birthdate_mismatch' });
    // day and month swapped
    expect(checkNik(KEDIRI, '1990-17-08')).toEqual({ ok: false, code: 'birthdate_invalid' });
    expect(checkNik(makeNik({ dd: '08', mm: '12' }), '1990-12-08').ok).toBe(true);
    expect(checkNik(makeNik({ dd: '08', mm: '12' }), '1990-08-12')).toEqual({ ok: false, code: 'nik_birthdate_mismatch' });
  });

  test.each([
    ['empty', ''],
    ['DD-MM-YYYY', '17-08-1990'],
    ['slashes', '1990/08/17'],
    ['no separators', '19900817'],
    ['one-digit month', '1990-8-17'],
    ['two-digit year', '90-08-17'],
    ['a time part', '1990-08-17T00:00:00Z'],
    ['month 13', '1990-13-17'],
    ['day 00', '1990-08-00'],
    ['31 April', '1990-04-31'],
    ['29 February 1990', '1990-02-29'],
  ])('entered birth date %s: birthdate_invalid', (_name, birthdate) => {
    expect(checkNik(KEDIRI, birthdate)).toEqual({ ok: false, code: 'birthdate_invalid' });
  });

  test('a missing birth date field is birthdate_invalid, not a crash', () => {
    expect(checkNik(KEDIRI, undefined as unknown as string)).toEqual({ ok: false, code: 'birthdate_invalid' });
  });

  test('a birth date in the future is birthdate_invalid', () => {
    const nextYear = new Date().getUTCFullYear() + 1;
    const nik = makeNik({ dd: '01', mm: '01', yy: String(nextYear % 100).padStart(2, '0') });
    expect(checkNik(nik, `${nextYear}-01-01`)).toEqual({ ok: false, code: 'birthdate_invalid' });
  });

  test('"today" is today in Kediri (WIB, UTC+7): born today is fine, tomorrow is not', () => {
    const nik10 = makeNik({ dd: '10', mm: '03', yy: '26' });
    const nik11 = makeNik({ dd: '11', mm: '03', yy: '26' });
    const morningUtc = new Date('2026-03-10T05:00:00Z'); // 12:00 WIB on 10 March
    expect(checkNik(nik10, '2026-03-10', morningUtc)).toMatchObject({ ok: true });
    expect(checkNik(nik11, '2026-03-11', morningUtc)).toEqual({ ok: false, code: 'birthdate_invalid' });
    const eveningUtc = new Date('2026-03-10T18:00:00Z'); // 01:00 WIB on 11 March
    expect(checkNik(nik11, '2026-03-11', eveningUtc)).toMatchObject({ ok: true });
  });

  test('NIK errors come before birth date errors', () => {
    expect(checkNik('12345', 'not a date')).toEqual({ ok: false, code: 'nik_format' });
    expect(checkNik(makeNik({ regency: '9901' }), '1990-08-17')).toEqual({ ok: false, code: 'nik_province' });
    expect(checkNik(makeNik({ regency: '3599' }), '1990-08-17')).toEqual({ ok: false, code: 'nik_regency' });
    expect(checkNik(makeNik({ district: '00' }), '1990-08-17')).toEqual({ ok: false, code: 'nik_district' });
    expect(checkNik(makeNik({ dd: '72' }), '1990-08-17')).toEqual({ ok: false, code: 'nik_date' });
    expect(checkNik(makeNik({ serial: '0000' }), '1990-08-17')).toEqual({ ok: false, code: 'nik_serial' });
  });
});

describe('messages', () => {
  const load = (lang: string): Record<string, unknown> =>
    JSON.parse(readFileSync(new URL(`../../views/locales/${lang}/nik.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
  const id = load('id');
  const en = load('en');

  test('id and en each have a message for every error code, plus label and hint, and nothing else', () => {
    const expected = ['label', 'hint', ...NIK_ERROR_CODES].sort();
    expect(Object.keys(id).sort()).toEqual(expected);
    expect(Object.keys(en).sort()).toEqual(expected);
    for (const value of [...Object.values(id), ...Object.values(en)]) {
      expect(typeof value === 'string' && value.trim().length > 0).toBe(true);
    }
  });

  test('Indonesian is written for its own sake, not copied from English', () => {
    for (const code of NIK_ERROR_CODES) expect(id[code]).not.toEqual(en[code]);
    expect(id.hint).toBe('16 angka pada KTP-el Anda');
    expect(en.hint).toBe('The 16 digits on your KTP-el');
  });
});

describe('compactNik: a NIK as typed', () => {
  test.each(['3571 0117 0890 0001', '3571.0117.0890.0001', '3571-0117-0890-0001', ' 3571  01 17 08 90 0001 ', '3571011708900001'])('%s is its 16 digits', (typed) => {
    expect(compactNik(typed)).toBe(KEDIRI);
    expect(parseNik(compactNik(typed)).ok).toBe(true);
  });

  test.each(['3571/0117/0890/0001', '3571 0117 0890 000l', '.3571011708900001', '3571011708900001-', '+3571011708900001', '3571_0117_0890_0001'])('%s keeps its other signs, and parseNik refuses it', (typed) => {
    expect(parseNik(compactNik(typed))).toEqual({ ok: false, code: 'nik_format' });
  });
});
