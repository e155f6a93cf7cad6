import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogKeys, translator } from '../../src/i18n.js';

/** The audit types written about a citizen (`citizenId` in the entry), which /akun lists as the account's activity. */
function auditTypesAboutCitizens(): string[] {
  const files = readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  const types = new Set<string>();
  for (const file of files) {
    const source = readFileSync(join('src', file), 'utf8');
    for (const entry of source.matchAll(/type: '([a-z_.]+)'([^}]*)\}/g)) if (entry[2]!.includes('citizenId')) types.add(entry[1]!);
  }
  // The retention job writes these for each citizen it tells (retention.ts, tellEach).
  for (const type of ['retention.account_warned', 'retention.account_disabled']) types.add(type);
  return [...types].sort();
}

describe('page strings', () => {
  test('Bahasa Indonesia and English have the same keys', () => {
    expect(catalogKeys('en')).toEqual(catalogKeys('id'));
    expect(catalogKeys('id').length).toBeGreaterThan(50);
  });

  test('every audit entry about a citizen has a name on the account page\'s activity list, in both languages', () => {
    const types = auditTypesAboutCitizens();
    expect(types).toEqual(expect.arrayContaining(['login.succeeded', 'phone.verified', 'identity.name_corrected']));
    for (const lang of ['id', 'en'] as const) {
      const t = translator(lang);
      expect(types.filter((type) => t(`account.event.${type}`) === `account.event.${type}`)).toEqual([]);
    }
  });

  test('placeholders are filled and a missing key shows itself', () => {
    const t = translator('id');
    expect(t('login.heading', { client: 'Layanan Akta' })).toContain('Layanan Akta');
    expect(translator('en')('login.submit')).toBe('Sign in');
    expect(t('login.submit')).toBe('Masuk');
    expect(t('no.such.key')).toBe('no.such.key');
  });
});
