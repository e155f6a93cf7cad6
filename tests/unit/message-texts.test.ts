import { describe, expect, test } from '@jest/globals';
import { LANGS } from '../../src/i18n.js';
import { retryAfterSeconds } from '../../src/messaging/gateway.js';
import { codeText, noticeText, type CodePurpose, type NoticeKind } from '../../src/messaging/texts.js';

/** The GSM 03.38 basic alphabet: a text of these characters only fits 160 of them in one SMS. */
const GSM7 = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const PURPOSES: CodePurpose[] = ['verify_phone', 'sign_in', 'reset_password', 'change_phone'];
const NOTICES: NoticeKind[] = ['phone_changed', 'name_corrected', 'password_changed', 'account_locked', 'ciba_request', 'registration_expiring', 'account_inactive', 'account_disabled'];

const oneSms = (text: string) => {
  expect([...text].filter((c) => !GSM7.has(c))).toEqual([]);
  expect(text.length).toBeLessThanOrEqual(160);
};

describe('WhatsApp and SMS texts', () => {
  test.each(LANGS)('every code text (%s) names Kediri ID, carries the code, its lifetime and the warning, in one SMS', (lang) => {
    for (const purpose of PURPOSES) {
      // The longest a code and a lifetime could make it.
      for (const [code, minutes] of [['123456', 5], ['12345678', 119]] as const) {
        const text = codeText(lang, purpose, code, minutes);
        expect(text).toMatch(/^Kediri ID: /);
        expect(text).toContain(code);
        expect(text).toContain(lang === 'id' ? `Berlaku ${minutes} menit.` : `Valid for ${minutes} minutes.`);
        expect(text).toContain(lang === 'id' ? 'JANGAN BERIKAN kode ini kepada siapa pun, termasuk petugas.' : 'DO NOT SHARE this code with anyone, including officers.');
        oneSms(text);
      }
    }
  });

  test('the purposes read differently, and as the issue words them', () => {
    expect(codeText('id', 'sign_in', '123456', 5)).toBe('Kediri ID: 123456 adalah kode untuk masuk. Berlaku 5 menit. JANGAN BERIKAN kode ini kepada siapa pun, termasuk petugas.');
    expect(codeText('en', 'sign_in', '123456', 1)).toContain('Valid for 1 minute.');
    expect(codeText('id', 'reset_password', '1', 60)).toContain('Berlaku 1 jam.');
    expect(new Set(PURPOSES.map((p) => codeText('id', p, '1', 5))).size).toBe(PURPOSES.length);
  });

  test.each(LANGS)('every notice (%s) names Kediri ID and fits one SMS', (lang) => {
    for (const kind of NOTICES) {
      // (The retention notices state days: the most a setting allows.)
      const text = noticeText(lang, kind, 365);
      expect(text).toMatch(/^Kediri ID: /);
      expect(text).not.toContain('message.notice');
      oneSms(text);
    }
    expect(new Set(NOTICES.map((kind) => noticeText(lang, kind, 365))).size).toBe(NOTICES.length);
  });

  test.each(LANGS)('the retention notices (%s) state their days, the longest still in one SMS', (lang) => {
    for (const kind of ['registration_expiring', 'account_inactive'] as const) {
      const text = noticeText(lang, kind, 365);
      expect(text).toContain(lang === 'id' ? '365 hari' : '365 days');
      oneSms(text);
    }
    expect(noticeText(lang, 'account_disabled')).toContain('MPP');
  });

  test('the old number hears of a change of number, with where to go', () => {
    expect(noticeText('id', 'phone_changed')).toContain('nomor HP akun Kediri ID Anda telah diganti. Jika bukan Anda');
    expect(noticeText('id', 'phone_changed')).toContain('MPP');
    expect(noticeText('en', 'phone_changed')).toContain('MPP');
  });
});

describe('message helpers', () => {
  test('Retry-After: seconds or an HTTP date, at most an hour; nothing for what cannot be read', () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    expect(retryAfterSeconds('30', now)).toBe(30);
    expect(retryAfterSeconds('Sun, 01 Mar 2026 10:02:00 GMT', now)).toBe(120);
    expect(retryAfterSeconds('Sun, 01 Mar 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterSeconds('86400', now)).toBe(3600);
    expect(retryAfterSeconds(null, now)).toBeUndefined();
    expect(retryAfterSeconds('soon', now)).toBeUndefined();
  });
});
