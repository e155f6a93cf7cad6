import { describe, expect, test } from '@jest/globals';
import { looksLikePhone, maskPhone, normalizePhone } from '../../src/identity/phone.js';

describe('phone numbers', () => {
  test.each([
    ['0812 3456 7890', '+6281234567890'],
    ['0812-3456-7890', '+6281234567890'],
    ['+62 812-3456-7890', '+6281234567890'],
    ['6281234567890', '+6281234567890'],
    ['(0812) 3456.7890', '+6281234567890'],
    ['0811 234 567', '+62811234567'],
    ['0812345678901', '+62812345678901'],
  ])('%s is an Indonesian mobile number, stored as %s', (typed, stored) => {
    expect(normalizePhone(typed)).toBe(stored);
  });

  test.each([
    ['0354 123456', 'a Kediri landline'],
    ['02112345678', 'a Jakarta landline'],
    ['08123', 'too short'],
    ['08123456789012', 'too long'],
    ['+1 555 123 4567', 'another country'],
    ['0812 3456 78ab', 'letters'],
    ['', 'empty'],
    ['+62 0812 3456 7890', 'a 0 after the country code'],
  ])('%s is refused (%s)', (typed) => {
    expect(normalizePhone(typed)).toBeUndefined();
  });

  test('numbers of another country pass only when its calling code is configured', () => {
    expect(normalizePhone('+60 12-345 6789')).toBeUndefined();
    expect(normalizePhone('+60 12-345 6789', ['+60'])).toBe('+60123456789');
    expect(normalizePhone('+65 9123 4567', ['+60'])).toBeUndefined();
  });

  test('a NIK, also in the groups printed on the KTP-el, does not look like a phone number; a number does', () => {
    for (const nik of ['3571012305880001', '3571 0123 0588 0001', '3571.0123.0588.0001']) expect(looksLikePhone(nik)).toBe(false);
    for (const phone of ['0812 3456 7890', '+62 812-3456-7890']) expect(looksLikePhone(phone)).toBe(true);
  });

  test('a masked number keeps its start and its last three digits', () => {
    expect(maskPhone('+6281234567890')).toBe('+62812*****890');
    expect(maskPhone('+6281234567890')).not.toContain('34567');
  });
});
