import { describe, expect, test } from '@jest/globals';
import { formatDay, formatWhen } from '../../src/i18n.js';

describe('days and times as pages and emails show them (WIB)', () => {
  test('a moment is read in WIB: 18:00 UTC on 22 May is already 23 May in Kediri', () => {
    const evening = new Date('2026-05-22T18:00:00Z');
    expect(formatDay(evening, 'id')).toBe('23 Mei 2026');
    expect(formatDay(evening, 'en')).toBe('23 May 2026');
    expect(formatWhen(evening, 'id')).toBe('23 Mei 2026 01.00 WIB');
    expect(formatWhen(evening, 'en')).toBe('23 May 2026 01:00 WIB');
    // The last minute of 22 May in Kediri.
    expect(formatWhen(new Date('2026-05-22T16:59:00Z'), 'id')).toBe('22 Mei 2026 23.59 WIB');
  });

  test('the audit log shows seconds', () => {
    expect(formatWhen(new Date('2026-01-01T07:05:09Z'), 'id', { seconds: true })).toBe('1 Januari 2026 14.05.09 WIB');
    expect(formatWhen(new Date('2026-01-01T07:05:09Z'), 'en', { seconds: true })).toBe('1 January 2026 14:05:09 WIB');
  });

  test('a calendar date (a birth date) never shifts a day', () => {
    expect(formatDay('1988-05-23', 'id')).toBe('23 Mei 1988');
    expect(formatDay('1988-05-23', 'en')).toBe('23 May 1988');
    expect(formatDay('2000-01-01', 'id')).toBe('1 Januari 2000');
    expect(formatDay('1999-12-31', 'en')).toBe('31 December 1999');
  });

  test('anything that is not a calendar date shows as it came', () => {
    expect(formatDay('23/05/1988', 'id')).toBe('23/05/1988');
    expect(formatDay('', 'en')).toBe('');
  });
});
