import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { PASSWORD_MAX, PASSWORD_MIN, passwordProblem } from '../../src/identity/password-policy.js';

const LIST = readFileSync(new URL('../../src/identity/common-passwords.txt', import.meta.url), 'utf8');

/** A made-up citizen: born 17 August 1990 in Kota Kediri. */
const PERSON = { nik: '3571011708900001', birthdate: '1990-08-17', email: 'budi.santoso@contoh.id' };

/** A string of `n` code points that is on no list and contains nothing of PERSON. */
const ofLength = (n: number, char = 'k') => char.repeat(n);

describe('length (code points after NFKC)', () => {
  test('the limits are 8 and 128', () => {
    expect(PASSWORD_MIN).toBe(8);
    expect(PASSWORD_MAX).toBe(128);
  });

  test('7 and 129 are rejected, 8 and 128 accepted', () => {
    expect(passwordProblem(ofLength(7))).toBe('password_length');
    expect(passwordProblem(ofLength(8))).toBeUndefined();
    expect(passwordProblem(ofLength(128))).toBeUndefined();
    expect(passwordProblem(ofLength(129))).toBe('password_length');
    expect(passwordProblem('')).toBe('password_length');
  });

  test('a multi-byte character counts as one', () => {
    // 'é' is 2 UTF-8 bytes, '😀' 4 bytes and 2 UTF-16 units: each is still one character.
    expect(passwordProblem(ofLength(8, 'é'))).toBeUndefined();
    expect(passwordProblem(ofLength(7, 'é'))).toBe('password_length');
    expect(passwordProblem(ofLength(8, '😀'))).toBeUndefined();
    expect(passwordProblem(ofLength(7, '😀'))).toBe('password_length');
    expect(passwordProblem(ofLength(128, '😀'))).toBeUndefined();
    expect(passwordProblem(ofLength(129, '😀'))).toBe('password_length');
    expect(passwordProblem('kata sandi ráhasia')).toBeUndefined();
  });

  test('length is counted after NFKC normalisation', () => {
    // 'e' + combining acute (2 code points) composes to 'é' (1): 4 of them are 4 characters, not 8.
    expect(passwordProblem('e\u0301'.repeat(4))).toBe('password_length');
    expect(passwordProblem('e\u0301'.repeat(8))).toBeUndefined();
    // 'ﬃ' (one code point) becomes 'ffi' (three).
    expect(passwordProblem('ﬃ'.repeat(3))).toBeUndefined();
  });

  test('spaces count and no composition rules apply', () => {
    expect(passwordProblem('        ')).toBeUndefined();
    expect(passwordProblem('semuahurufkecil')).toBeUndefined();
  });
});

describe('common passwords', () => {
  test.each(['password', 'Password', 'PASSWORD', '123456789', 'qwertyuiop', '12345678', 'bismillah', 'sayangku'])(
    '%s is rejected',
    (password) => {
      expect(passwordProblem(password)).toBe('password_common');
    },
  );

  test('full-width forms are normalised before the look-up', () => {
    expect(passwordProblem('ｐａｓｓｗｏｒｄ')).toBe('password_common');
  });

  test('a long passphrase is accepted', () => {
    expect(passwordProblem('tahu takwa dan gethuk pisang di Jalan Dhoho', PERSON)).toBeUndefined();
    expect(passwordProblem('correct horse battery staple')).toBeUndefined();
  });

  test('the list has at least 10,000 lowercase entries and no duplicates', () => {
    expect(LIST.endsWith('\n')).toBe(true);
    const lines = LIST.slice(0, -1).split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(10_000);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.filter((line) => line === '' || line !== line.toLowerCase() || line !== line.trim())).toEqual([]);
    expect(lines.slice(0, 2)).toEqual(['123456', 'password']);
  });
});

describe('the NIK', () => {
  test('a password containing the NIK is rejected', () => {
    expect(passwordProblem('3571011708900001', PERSON)).toBe('password_contains_nik');
    expect(passwordProblem('nik3571011708900001!', PERSON)).toBe('password_contains_nik');
    expect(passwordProblem('３５７１０１１７０８９００００１', PERSON)).toBe('password_contains_nik');
  });

  test('part of the NIK, or no NIK given, is not this rule', () => {
    expect(passwordProblem('357101170890000', { nik: PERSON.nik })).toBeUndefined();
    expect(passwordProblem('3571011708900001')).toBeUndefined();
    expect(passwordProblem('3571011708900001', { nik: '' })).toBeUndefined();
  });
});

describe('the birth date', () => {
  test.each([
    ['YYYY-MM-DD', 'lahir 1990-08-17'],
    ['DDMMYYYY', 'budi17081990'],
    ['DD-MM-YYYY', '17-08-1990 merdeka'],
    ['DD/MM/YYYY', 'tgl 17/08/1990'],
    ['DDMMYY', 'kediri170890'],
    ['YYYYMMDD', '19900817kediri'],
  ])('%s is rejected', (_form, password) => {
    expect(passwordProblem(password, { birthdate: PERSON.birthdate })).toBe('password_contains_birthdate');
  });

  test('another date, a year alone or no birth date given is not this rule', () => {
    expect(passwordProblem('kediri18081990', { birthdate: PERSON.birthdate })).toBeUndefined();
    expect(passwordProblem('kediri 1990 jaya', { birthdate: PERSON.birthdate })).toBeUndefined();
    expect(passwordProblem('budi17081990')).toBeUndefined();
    expect(passwordProblem('budi17081990', { birthdate: '17-08-1990' })).toBeUndefined(); // not YYYY-MM-DD: ignored
  });
});

describe('the email', () => {
  test('a password containing the local part is rejected, whatever its case', () => {
    expect(passwordProblem('budi.santoso', { email: PERSON.email })).toBe('password_contains_email');
    expect(passwordProblem('Budi.Santoso2024', { email: PERSON.email })).toBe('password_contains_email');
    expect(passwordProblem('xx budi.santoso xx', { email: 'Budi.Santoso@Contoh.id' })).toBe('password_contains_email');
  });

  test('the whole email is rejected', () => {
    expect(passwordProblem('budi.santoso@contoh.id', { email: PERSON.email })).toBe('password_contains_email');
    expect(passwordProblem('ab@kediri.go.id', { email: 'ab@kediri.go.id' })).toBe('password_contains_email');
    expect(passwordProblem('AB@Kediri.go.id', { email: 'ab@kediri.go.id' })).toBe('password_contains_email');
  });

  test('a local part shorter than 3 characters is not looked for', () => {
    expect(passwordProblem('abrakadabra99', { email: 'ab@kediri.go.id' })).toBeUndefined();
    expect(passwordProblem('abrakadabra99', { email: 'abr@kediri.go.id' })).toBe('password_contains_email');
  });

  test('the domain alone is not this rule', () => {
    expect(passwordProblem('contoh.id rahasia', { email: PERSON.email })).toBeUndefined();
  });
});

describe('order of problems', () => {
  test('length first, then common, NIK, birth date, email', () => {
    expect(passwordProblem('budi', PERSON)).toBe('password_length');
    expect(passwordProblem('password', { ...PERSON, email: 'password@contoh.id' })).toBe('password_common');
    expect(passwordProblem('budi.santoso 3571011708900001', PERSON)).toBe('password_contains_nik');
    expect(passwordProblem('budi.santoso 17081990', PERSON)).toBe('password_contains_birthdate');
  });

  test('an acceptable password for this person', () => {
    expect(passwordProblem('sepeda ontel ke Gunung Klotok', PERSON)).toBeUndefined();
  });
});
