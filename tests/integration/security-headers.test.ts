import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The headers of every kind of answer, as production serves them: behind a TLS proxy (https
 * issuer, X-Forwarded-Proto). Each path below is a GET route of ours or of the provider, asked
 * without a session (a page, a form, a redirect to sign in, an error, a 404, JSON, a static
 * file); the headers are set in front of every route, so signed-in pages get the same.
 */
const PATHS = [
  '/', '/privasi', '/daftar', '/lupa-sandi', '/verifikasi', '/masuk', '/akun', '/akun/profil', '/akun/telepon', '/akun/telepon/verifikasi', '/akun/kata-sandi', '/akun/dua-langkah',
  '/loket', '/admin', '/admin/warga', '/admin/audit', '/admin/kunci', '/developer', '/developer/layanan', '/undangan/terima',
  '/static/app.css', '/unit/samsat/logo', '/healthz', '/readyz', '/.well-known/openid-configuration', '/jwks',
  '/auth?client_id=unknown&response_type=code', '/session/end', '/interaction/unknown', '/tidak-ada', '/?lang=en',
];

describe('security headers and cookies on every answer (https behind a proxy)', () => {
  let server: TestServer;
  let origin: string;

  beforeAll(async () => {
    server = await startTestServer({ TRUST_PROXY: 'true', ISSUER: 'https://id.kedirikota.example' });
    origin = server.url;
  });
  afterAll(() => server?.close());

  const get = (path: string) => fetch(`${origin}${path}`, { redirect: 'manual', headers: { 'x-forwarded-proto': 'https' } });

  test.each(PATHS)('%s', async (path) => {
    const res = await get(path);
    await res.arrayBuffer();
    expect(res.status).toBeLessThan(500);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d{8,}; includeSubDomains/);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('server')).toBeNull();
    for (const cookie of res.headers.getSetCookie()) {
      const attributes = cookie.split(';').slice(1).map((a) => a.trim().toLowerCase());
      expect({ cookie: cookie.split('=')[0], secure: attributes.includes('secure'), httpOnly: attributes.includes('httponly') }).toEqual({
        cookie: cookie.split('=')[0], secure: true, httpOnly: true,
      });
      expect(attributes.some((a) => /^samesite=(lax|strict|none)$/.test(a))).toBe(true);
    }
  });

  test('the answers above set cookies (so the cookie checks ran)', async () => {
    const cookies = (await Promise.all(['/daftar', '/?lang=en'].map(get))).flatMap((res) => res.headers.getSetCookie());
    expect(cookies.length).toBeGreaterThanOrEqual(2);
  });
});
