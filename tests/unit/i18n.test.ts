import { describe, expect, test } from '@jest/globals';
import { catalogKeys, translator } from '../../src/i18n.js';

describe('page strings', () => {
  test('Bahasa Indonesia and English have the same keys', () => {
    expect(catalogKeys('en')).toEqual(catalogKeys('id'));
    expect(catalogKeys('id').length).toBeGreaterThan(50);
  });

  test('placeholders are filled and a missing key shows itself', () => {
    const t = translator('id');
    expect(t('login.heading', { client: 'Layanan Akta' })).toContain('Layanan Akta');
    expect(translator('en')('login.submit')).toBe('Sign in');
    expect(t('login.submit')).toBe('Masuk');
    expect(t('no.such.key')).toBe('no.such.key');
  });
});
