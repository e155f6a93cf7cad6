import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Bad input at every endpoint a browser or a client can reach without staff rights: the protocol
 * endpoints, the public forms, a live interaction's forms and a signed-in citizen's account
 * forms (these with a valid CSRF token, so that the handlers themselves see the input). Each gets
 * an empty body, oversized, unicode and control characters, repeated fields, JSON with objects
 * and arrays where text belongs, XML, broken percent-encoding, thousands of fields, broken
 * multipart, and wrong methods. Wanted: never a 5xx, never a stack trace, nothing changed (an
 * authenticator app set up but not confirmed, which an empty valid POST starts, does not count).
 */
const FIELDS = ['identifier', 'password', 'password_confirm', 'email', 'nik', 'name', 'code', 'client_id', 'grant_type', 'token', 'redirect_uri', 'scope', 'phone', 'birth_day'];
const STACK_TRACE = /\n\s+at .+:\d+:\d+|node_modules|(Type|Reference|Syntax)Error/;

type Body = { contentType?: string; body?: string };
const form = (pairs: Array<[string, string]>) => ({ contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(pairs).toString() });

/** The bad bodies, each with the page's CSRF token where the variant keeps one. */
function variants(csrf: string | undefined): Array<[string, Body]> {
  const withCsrf = (pairs: Array<[string, string]>) => (csrf ? [...pairs, ['_csrf', csrf] as [string, string]] : pairs);
  return [
    ['empty', form(withCsrf([]))],
    ['oversized', form(withCsrf(FIELDS.map((f) => [f, 'x'.repeat(100_000)])))],
    ['unicode and control characters', form(withCsrf(FIELDS.map((f) => [f, 'ñ😀\u0000\u202e\r\n<script>\'"; --'])))],
    ['repeated fields', form(withCsrf(FIELDS.flatMap((f) => [[f, 'a'], [f, 'b']] as Array<[string, string]>)))],
    ['JSON with objects and arrays', { contentType: 'application/json', body: JSON.stringify({ identifier: { $gt: '' }, password: [1, 2], email: null, nik: 3.5e300, _csrf: csrf }) }],
    ['XML', { contentType: 'text/xml', body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' }],
    ['broken percent-encoding', { contentType: 'application/x-www-form-urlencoded', body: `identifier=%E0%A4%A&password=%&${csrf ? `_csrf=${csrf}` : ''}` }],
    ['thousands of fields', form(withCsrf(Array.from({ length: 5000 }, (_, i) => [`f${i}`, String(i)])))],
    ['broken multipart', { contentType: 'multipart/form-data; boundary=zz', body: '--zz\r\nContent-Disposition: form-data; name="identifier"\r\n\r\nno end' }],
    ['no content type', { body: 'identifier=siti' }],
  ];
}

describe('fuzzing every endpoint', () => {
  let server: TestServer;
  let clientId: string;
  let clientSecret: string;
  const counts = async () =>
    (await server.testDb.db.query(
      `select (select count(*) from citizens) as citizens, (select count(*) from clients) as clients,
         (select count(*) from client_requests) as requests, (select count(*) from staff_roles) as staff,
         (select count(*) from units) as units,
         (select count(*) from totp_factors where confirmed_at is not null) as totp,
         (select count(*) from passkeys) as passkeys, (select string_agg(password_hash || email || name, ',') from citizens) as accounts`,
    )).rows[0];

  beforeAll(async () => {
    server = await startTestServer({ LOCKOUT_FAILURES: '100', LOGIN_MAX_DELAY_SECONDS: '0' });
    await createCitizen(server.instance);
    ({ clientId, clientSecret } = await createWebClient(server.instance));
  });
  afterAll(() => server?.close());

  async function hit(agent: Agent, method: string, path: string, { contentType, body }: Body, label: string) {
    const res = await agent.request(path, { method, headers: contentType ? { 'content-type': contentType } : {}, ...(method !== 'GET' && method !== 'HEAD' && body !== undefined && { body }) });
    const text = await res.text();
    expect({ label, status: res.status < 500 ? 'below 500' : res.status, trace: STACK_TRACE.test(text) }).toEqual({ label, status: 'below 500', trace: false });
  }

  async function fuzz(agent: Agent, paths: string[], csrf: string | undefined) {
    for (const path of paths) {
      for (const [name, body] of variants(csrf)) await hit(agent, 'POST', path, body, `POST ${path}: ${name}`);
      for (const method of ['PUT', 'DELETE', 'PATCH']) await hit(agent, method, path, form([['a', 'b']]), `${method} ${path}`);
    }
  }

  test('protocol endpoints, public forms, an interaction and a signed-in account: no 5xx, no stack trace, nothing changed', async () => {
    const before = await counts();

    // The provider's endpoints, as any client or stranger may call them.
    const stranger = new Agent(server.url);
    await fuzz(stranger, ['/token', '/token/introspection', '/token/revocation', '/request', '/me', '/auth', '/session/end', '/reg', '/reg/unknown'], undefined);
    for (const query of ['', '?client_id=', `?client_id=${clientId}&response_type=code&redirect_uri=${'x'.repeat(20_000)}`, `?client_id=${clientId}&scope=%00%ff&response_type=token`, '?request=a.b.c&client_id[]=x']) {
      await hit(stranger, 'GET', `/auth${query}`, {}, `GET /auth${query.slice(0, 40)}`);
    }
    await hit(stranger, 'GET', '/me', {}, 'GET /me without a token');
    // NUL and broken UTF-8 in paths and in parameters the provider stores (state, nonce, login_hint).
    const authorize = `client_id=${clientId}&response_type=code&redirect_uri=${encodeURIComponent(CALLBACK)}&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
    for (const path of ['/reg/%00', '/reg/%ED%A0%80', '/unit/%00/logo', '/akun/%E0%A4%A', `/auth?${authorize}&state=%00`, `/auth?${authorize}&nonce=a%00b`]) {
      const res = await stranger.request(path, { headers: { authorization: 'Bearer abc' } });
      expect({ path, status: res.status, trace: STACK_TRACE.test(await res.text()) }).toEqual({ path, status: 400, trace: false });
    }
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const par = await stranger.request('/request', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `${authorize}&state=a%00b` });
    // Stored inside a signed request object (base64url), so storable: accepted, and refused when used.
    expect(par.status).toBe(201);
    const { request_uri } = (await par.json()) as { request_uri: string };
    const used = await stranger.request(`/auth?client_id=${clientId}&request_uri=${encodeURIComponent(request_uri)}`);
    // An error the relying party hears of at its redirect URI, as OAuth has it.
    expect({ status: used.status, location: used.headers.get('location') }).toEqual({ status: 303, location: expect.stringContaining('error=invalid_request') });
    for (const name of ['a\\u0000b', 'a\\ud800b']) {
      const reg = await stranger.request('/reg', { method: 'POST', headers: { authorization: 'Bearer abc', 'content-type': 'application/json' }, body: `{"client_name":"${name}","redirect_uris":["https://x.example/cb"]}` });
      expect({ name, status: reg.status }).toEqual({ name, status: 400 });
    }

    // Public forms, with the CSRF token of their page.
    const visitor = new Agent(server.url);
    const visitorCsrf = csrfTokenOf(await (await visitor.request('/daftar')).text());
    await fuzz(visitor, ['/daftar', '/lupa-sandi', '/verifikasi', '/verifikasi/kirim-ulang', '/admin/warga/cari', '/developer/permintaan/baru', '/loket/cari', '/undangan/terima'], visitorCsrf);

    // A live interaction's forms.
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const browser = new Agent(server.url);
    const { res, url } = await browser.follow((await authorizationRequest(rp)).url);
    const interactionCsrf = csrfTokenOf(await res!.text());
    const uid = new URL(url).pathname;
    await fuzz(browser, ['login', 'consent', 'abort', 'otp', 'passkey', 'verifikasi-data', 'unmet'].map((step) => `${uid}/${step}`), interactionCsrf);

    // A signed-in citizen's account forms.
    const citizen = new Agent(server.url);
    const start = await citizen.request('/akun');
    const landed = await signIn(citizen, start.headers.get('location')!, SITI.email, SITI.password);
    const accountCsrf = csrfTokenOf(await (await citizen.follow(landed)).res!.text());
    await fuzz(citizen, ['/akun/profil', '/akun/email', '/akun/email/konfirmasi', '/akun/kata-sandi', '/akun/hapus', '/akun/dua-langkah', '/akun/kode-pemulihan', '/akun/faktor/hapus', '/akun/kunci-sandi', '/akun/kunci-sandi/nama', '/akun/sesi/akhiri'], accountCsrf);

    expect(await counts()).toEqual(before);
    // The account still signs in with its password.
    expect((await signInAndExchange(rp, SITI.email, SITI.password)).access_token).toBeTruthy();
  }, 240_000);
});
