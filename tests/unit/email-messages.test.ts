import { describe, expect, test } from '@jest/globals';
import { accountLockedEmail, keyRevokedEmail, lifetime, passwordResetEmail, requestDecisionEmail, staffInvitationEmail } from '../../src/email/messages.js';
import { translator } from '../../src/i18n.js';

describe('email templates', () => {
  test('a lifetime reads in whole days from two days up, else whole hours, else minutes', () => {
    expect(lifetime(30)).toEqual({ id: '30 menit', en: '30 minutes' });
    expect(lifetime(1)).toEqual({ id: '1 menit', en: '1 minute' });
    expect(lifetime(60)).toEqual({ id: '1 jam', en: '1 hour' });
    expect(lifetime(24 * 60)).toEqual({ id: '24 jam', en: '24 hours' });
    expect(lifetime(90)).toEqual({ id: '90 menit', en: '90 minutes' });
    expect(lifetime(7 * 24 * 60)).toEqual({ id: '7 hari', en: '7 days' });
  });

  test('the lifetime in the text is the one given, in both languages', () => {
    const reset = passwordResetEmail('budi@example.id', 'Budi', 'http://localhost/lupa-sandi?token=t', 45);
    expect(reset.body).toContain('dalam 45 menit');
    expect(reset.body).toContain('within\n45 minutes');
    const locked = accountLockedEmail('budi@example.id', 'Budi', 120);
    expect(locked.body).toContain('selama\n2 jam.');
    expect(locked.body).toContain('locked for\n2 hours.');
  });

  test('the first line is the subject; the body ends with the signature; text is not escaped', () => {
    const email = requestDecisionEmail('dev@example.id', "O'Neil & Co", 'Akta <Lahir>', 'rejected', undefined, 'http://localhost/developer/permintaan/1');
    expect(email).toEqual({
      to: 'dev@example.id',
      subject: 'Layanan "Akta <Lahir>" ditolak / Service "Akta <Lahir>" rejected',
      body: expect.stringMatching(/^Halo O'Neil & Co,\n\n.*ditolak\.\nLihat rinciannya[\s\S]*\n\n--\nKediri ID · Satu Akun Kota Kediri\nPemerintah Kota Kediri$/),
    });
    expect(requestDecisionEmail('d@example.id', 'D', 'A', 'rejected', 'no PKCE', 'http://l/p').body).toContain('ditolak.\nAlasan: no PKCE\nLihat');
  });

  test('an invitation names the role as the pages do, in each language (not the role\'s code)', () => {
    const { body } = staffInvitationEmail('rina@dinkes.example.id', 'developer', 'Dinas Kesehatan', 'http://localhost/undangan?token=t', 7 * 24 * 60);
    expect(translator('id')('admin.role.developer')).toBe('Pengembang unit');
    expect(body).toContain('Anda diundang sebagai Pengembang unit (Dinas Kesehatan) di Kediri ID.');
    expect(body).toContain('You are invited as Unit developer (Dinas Kesehatan) at Kediri ID.');
    expect(body).not.toMatch(/sebagai developer|as developer/);
    for (const [role, id, en] of [['admin', 'Admin', 'Admin'], ['officer', 'Petugas loket', 'Counter officer']]) {
      const text = staffInvitationEmail('x@example.id', role!, undefined, 'http://localhost/undangan?token=t', 60).body;
      expect(text).toContain(`Anda diundang sebagai ${id} di Kediri ID.`);
      expect(text).toContain(`You are invited as ${en} at Kediri ID.`);
    }
  });

  test('a revoked key: the kid, its replacement, the JWKS to fetch again, and whether sessions ended, in both languages', () => {
    const revoked = { kid: 'kid-lama', alg: 'RS256', at: new Date('2026-12-07T13:05:00Z'), replacedBy: 'kid-baru', jwksUri: 'https://id.kedirikota.go.id/jwks' };
    const ended = keyRevokedEmail('dev@example.id', 'Budi', { ...revoked, sessionsEnded: true });
    expect(ended.subject).toBe('Kunci penandatanganan Kediri ID dicabut: perbarui cache JWKS / A Kediri ID signing key was revoked: refresh your JWKS cache');
    for (const text of ['kid kid-lama pada 7 Desember 2026 20.05 WIB', 'dengan kid kid-baru', 'ambil lagi https://id.kedirikota.go.id/jwks', 'sudah diakhiri', 'kid kid-lama at 7 December 2026 20:05 WIB', 'have been ended']) {
      expect(ended.body).toContain(text);
    }
    const kept = keyRevokedEmail('dev@example.id', 'Budi', { ...revoked, replacedBy: null, sessionsEnded: false });
    expect(kept.body).not.toContain('kid-baru');
    expect(kept.body).toContain('tidak diakhiri');
    expect(kept.body).toContain('were not ended');
  });
});
