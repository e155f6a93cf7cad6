import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from '../../src/web/app.js';
import { adminRouter } from '../../src/web/admin/router.js';
import { counterRoutes } from '../../src/web/counter/routes.js';
import { developerRouter } from '../../src/web/developer/router.js';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Bad input at every endpoint: the protocol endpoints, the public forms, a live interaction's
 * forms, a signed-in citizen's account forms, and every route of the admin console, the developer
 * portal and the counter signed in with the role (forms with a valid CSRF token, so that the
 * handlers themselves see the input; staff routes also with ids that name nothing and with bad
 * query strings). Each gets
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
function variants(csrf: string | undefined, fields = FIELDS): Array<[string, Body]> {
  const withCsrf = (pairs: Array<[string, string]>) => (csrf ? [...pairs, ['_csrf', csrf] as [string, string]] : pairs);
  return [
    ['empty', form(withCsrf([]))],
    ['oversized', form(withCsrf(fields.map((f) => [f, 'x'.repeat(100_000)])))],
    ['unicode and control characters', form(withCsrf(fields.map((f) => [f, 'ñ😀\u0000\u202e\r\n<script>\'"; --'])))],
    ['repeated fields', form(withCsrf(fields.flatMap((f) => [[f, 'a'], [f, 'b']] as Array<[string, string]>)))],
    ['JSON with objects and arrays', { contentType: 'application/json', body: JSON.stringify({ identifier: { $gt: '' }, password: [1, 2], email: null, nik: 3.5e300, _csrf: csrf }) }],
    ['XML', { contentType: 'text/xml', body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' }],
    ['broken percent-encoding', { contentType: 'application/x-www-form-urlencoded', body: `identifier=%E0%A4%A&password=%&${csrf ? `_csrf=${csrf}` : ''}` }],
    ['thousands of fields', form(withCsrf(Array.from({ length: 5000 }, (_, i) => [`f${i}`, String(i)])))],
    ['broken multipart', { contentType: 'multipart/form-data; boundary=zz', body: '--zz\r\nContent-Disposition: form-data; name="identifier"\r\n\r\nno end' }],
    ['no content type', { body: 'identifier=siti' }],
  ];
}

async function hit(agent: Agent, method: string, path: string, { contentType, body }: Body, label: string) {
  const res = await agent.request(path, { method, headers: contentType ? { 'content-type': contentType } : {}, ...(method !== 'GET' && method !== 'HEAD' && body !== undefined && { body }) });
  const text = await res.text();
  expect({ label, status: res.status < 500 ? 'below 500' : res.status, trace: STACK_TRACE.test(text) }).toEqual({ label, status: 'below 500', trace: false });
}

async function fuzz(agent: Agent, paths: string[], csrf: string | undefined, fields = FIELDS) {
  for (const path of paths) {
    for (const [name, body] of variants(csrf, fields)) await hit(agent, 'POST', path, body, `POST ${path}: ${name}`);
    for (const method of ['PUT', 'DELETE', 'PATCH']) await hit(agent, method, path, form([['a', 'b']]), `${method} ${path}`);
  }
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
    await fuzz(citizen, ['/akun/profil', '/akun/email', '/akun/email/konfirmasi', '/akun/telepon', '/akun/telepon/verifikasi', '/akun/telepon/kirim-ulang', '/akun/telepon/hapus', '/akun/kata-sandi', '/akun/hapus', '/akun/dua-langkah', '/akun/kode-pemulihan', '/akun/faktor/hapus', '/akun/kunci-sandi', '/akun/kunci-sandi/nama', '/akun/sesi/akhiri'], accountCsrf);

    expect(await counts()).toEqual(before);
    // The account still signs in with its password.
    expect((await signInAndExchange(rp, SITI.email, SITI.password)).access_token).toBeTruthy();
  }, 240_000);
});

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };
const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const OFFICER = { nik: '3571024703920001', name: 'Rina Petugas', birthdate: '1992-03-07', email: 'rina@mpp.kedirikota.go.id', password: 'loket-mal-pelayanan-publik' };
/** A page of each area with a form (its CSRF token). */
const AREAS: Record<string, string> = { admin: '/admin/warga', developer: '/developer/permintaan/baru', officer: '/loket' };
/** The field names of the staff forms (admin console, developer portal, counter). */
const STAFF_FIELDS = [
  'q', 'reason', 'slug', 'name', 'unit', 'uses', 'hours', 'email', 'role', 'status', 'subject_type', 'high_assurance', 'allow', 'confirm',
  'jwks', 'nik', 'ktp_checked', 'phone', 'phone_checked', 'type', 'redirect_uris', 'post_logout_redirect_uris', 'scopes', 'auth_method', 'contact', 'policy_uri',
  'label', 'issuer', 'clientId', 'authMethod', 'clientSecret', 'nikClaim', 'claim_name', 'verifiedAcr', 'enabled',
  'indicator', 'clients', 'ttl', 'end_sessions',
];
/**
 * Staff actions that take no field: a POST with a valid CSRF token is the action itself (approve,
 * revoke, cancel, rotate, end sessions, show a secret once), so a fuzzed body is accepted. They
 * are fuzzed with a forged CSRF token, and through ids that name nothing with a valid one: either
 * way they must change nothing.
 */
const FIELDLESS = new Set([
  '/admin/permintaan/:id/setujui', '/admin/token-registrasi/:id/cabut', '/admin/staf/undangan/:id/batal', '/admin/kunci/rotasi',
  '/admin/warga/:id/akhiri-sesi', '/developer/permintaan/:id/rahasia', '/admin/katalog/usulan/:id/setujui', '/admin/katalog/:id/hapus',
  '/admin/api/:id/hapus',
]);
/** Ids in paths that name nothing: a well-formed unknown one, malformed ones, a long one, unicode. */
const FOREIGN_IDS = ['00000000-0000-4000-8000-000000000000', 'abc', '-1', 'x'.repeat(3000), encodeURIComponent('ñ😀<script>'), '..%2F..%2Fetc', encodeURIComponent("1' or '1'='1")];
/** Query strings for GET pages: filters out of range, repeated, oversized, unknown. */
const QUERIES = [
  `?dari=2026-02-30&sampai=9999-99-99&jenis=x&pelaku=${'a'.repeat(5000)}&klien=%20&warga=zzz&sebelum=999999999999999999999`,
  '?dari=a&dari=b&jenis[]=x&sebelum=0&disetujui[]=1&disimpan=<script>&dirotasi=1&diundang=1&jwks=1&lang=xx',
  `?q=${'ñ'.repeat(300)}&halaman=-1&page=NaN`,
];

describe('fuzzing the staff routes (admin console, developer portal, counter), signed in with each role', () => {
  let server: TestServer;
  const ids: Record<string, string> = {};
  const roles: Record<string, { agent: Agent; csrf: string; router: Router }> = {};
  const pass: Middleware = (_ctx, next) => next();
  /** A digest of every table whose rows a staff route could change, and of a signed-in citizen's sessions and grants. */
  const tables = [
    'units', 'clients', 'citizens', 'signing_keys', 'staff_roles', 'staff_invitations', 'developer_units', 'client_requests', 'initial_access_tokens',
    'totp_factors', 'recovery_codes', 'passkeys', 'webauthn_challenges', 'population_checks', 'account_tokens', 'outbox', 'logout_outbox',
    'catalogue_entries', 'catalogue_proposals', 'upstream_providers', 'resource_servers', 'resource_server_clients',
  ];
  const snapshot = async () => ({
    ...(await server.testDb.db.query(`select ${tables.map((t) => `(select md5(coalesce(string_agg(r::text, ',' order by r::text), '')) from ${t} r) as ${t}`).join(', ')}`)).rows[0],
    sitiSessions: (await server.testDb.db.query("select model, id from oidc_payloads where payload->>'accountId' = $1 order by 1, 2", [ids.warga])).rows,
  });

  async function signedIn(who: { email: string; password: string }, area: string, totp?: string) {
    const agent = new Agent(server.url);
    const start = await agent.request(area);
    const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { ...(totp && { totp }) });
    const { res } = await agent.follow(landed);
    expect(res!.status).toBe(200);
    return { agent, csrf: csrfTokenOf(await res!.text()) };
  }

  /** The GET and POST routes of a router, as the app mounts it. */
  function routesOf(router: Router): { method: string; path: string }[] {
    return router.stack
      .filter((layer) => layer.methods.length > 0)
      .flatMap((layer) => layer.methods.filter((m) => m === 'GET' || m === 'POST').map((method) => ({ method, path: String(layer.path) })));
  }

  /** A route's path with each parameter naming the thing the test made for it. */
  function realPath(path: string): string {
    return path.replace(/(\w[\w-]*)\/:(\w+)/g, (_match, segment: string, param: string) => {
      const id = ids[param === 'id' ? segment : param];
      if (!id) throw new Error(`no id made for :${param} after ${segment}/ (a new route?)`);
      return `${segment}/${id}`;
    });
  }

  beforeAll(async () => {
    server = await startTestServer({ LOCKOUT_FAILURES: '100', LOGIN_MAX_DELAY_SECONDS: '0' });
    const { instance } = server;
    ids.warga = (await createCitizen(instance)).id;
    for (const person of [ADMIN, DEV, OFFICER]) await createCitizen(instance, person);
    const admin = await grantStaff(instance, ADMIN.email, 'admin');
    const officer = await grantStaff(instance, OFFICER.email, 'officer');
    ids.staf = officer.id;
    const developer = await grantStaff(instance, DEV.email, 'developer', 'bppkad');
    ids.clientId = (await createWebClient(instance, { unit: 'bppkad' })).clientId;
    ids.slug = 'bppkad';
    ids.kid = (await instance.signingKeys.list()).find((key) => key.alg === 'RS256' && key.state === 'current')!.kid;
    await instance.staff.invite({ email: 'calon@kedirikota.go.id', role: 'officer' }, admin.id, '127.0.0.1');
    await instance.dynamicRegistration.issueAccessToken({ unit: 'bppkad', uses: 1, expiresInHours: 1 }, admin.id, '127.0.0.1');
    const first = async (sql: string) => (await instance.db.query<{ id: string }>(sql)).rows[0]!.id;
    ids.undangan = await first('select id from staff_invitations');
    ids['token-registrasi'] = await first('select id from initial_access_tokens');
    // A catalogue entry of the unit's service, and a developer's proposal for it waiting for review.
    const entry = await instance.catalogue.create({
      unit: 'bppkad', name: 'Pajak Daerah', description_id: 'Bayar pajak daerah.', description_en: 'Pay the regional tax.',
      kind: 'online', client_id: ids.clientId, acr: 'urn:kediri:acr:basic',
    }, 'test');
    if (!('id' in entry)) throw new Error('no catalogue entry');
    ids.katalog = entry.id;
    const proposal = await instance.catalogueProposals.submit({
      clientId: ids.clientId, entryId: entry.id, name: 'Pajak Daerah Online', description_id: 'Bayar pajak daerah secara online.',
      description_en: 'Pay the regional tax online.', acr: 'urn:kediri:acr:basic',
    }, ids.warga);
    if (!('id' in proposal)) throw new Error('no catalogue proposal');
    ids.usulan = proposal.id;
    // A national identity provider, with a client secret.
    ids.upstream = await instance.upstreams.create({
      slug: 'inapas', label: 'INApas', issuer: 'https://inapas.example.go.id', clientId: 'kediri-id', authMethod: 'client_secret_basic', clientSecret: 'rahasia',
      scopes: 'openid profile nik', nikClaim: 'nik', claimMap: { name: 'name', birthdate: 'birthdate', email: 'email', phone: 'phone_number' },
      verifiedAcr: '', mfaAcr: '', enabled: true,
    }, admin.id, '127.0.0.1');
    // A unit's API that the client may obtain tokens for.
    ids.api = (await instance.resourceServers.create({
      indicator: 'https://api.bppkad.example.go.id/retribusi', name: 'Retribusi Daerah', scopes: ['retribusi:baca'], clientIds: [ids.clientId], accessTokenTtl: 300,
    }, admin.id, '127.0.0.1')).id;

    roles.admin = { ...(await signedIn(ADMIN, AREAS.admin!, admin.totp)), router: adminRouter(instance as unknown as AppDeps, pass, pass) };
    roles.developer = { ...(await signedIn(DEV, AREAS.developer!, developer.totp)), router: developerRouter(instance as unknown as AppDeps, pass, pass) };
    roles.officer = { ...(await signedIn(OFFICER, AREAS.officer!, officer.totp)), router: counterRoutes(instance.staff, pass) };
    // A pending request of the developer's unit, for the review and request pages.
    const submitted = await roles.developer.agent.post('/developer/permintaan/baru', {
      _csrf: roles.developer.csrf, name: 'Layanan Pajak Daerah', type: 'web', redirect_uris: 'https://pajak.kedirikota.go.id/callback',
      scopes: 'profile', auth_method: 'client_secret_basic', policy_uri: 'https://pajak.kedirikota.go.id/privasi', contact: 'tim@bppkad.example.id',
    });
    expect(submitted.status).toBe(303);
    ids.permintaan = /permintaan\/([0-9a-f-]{36})$/.exec(submitted.headers.get('location')!)![1]!;
    // Siti signs in: a live session and grant that no refused staff action may end.
    await signedIn(SITI, '/akun/profil');
  }, 120_000);
  afterAll(() => server?.close());

  test.each(['admin', 'developer', 'officer'])('every route of the %s: no 5xx, no stack trace, nothing changed', async (role) => {
    const { agent, csrf, router } = roles[role]!;
    const routes = routesOf(router);
    expect(routes.length).toBeGreaterThan(2);
    const before = await snapshot();
    for (const { method, path } of routes) {
      const paths = path.includes('/:') ? [realPath(path), ...FOREIGN_IDS.map((id) => path.replace(/:\w+/g, id))] : [path];
      for (const [index, target] of paths.entries()) {
        const named = index === 0;
        if (method === 'GET') {
          for (const query of ['', ...QUERIES]) await hit(agent, 'GET', `${target}${query}`, {}, `GET ${target.slice(0, 80)}${query.slice(0, 60)}`);
        } else {
          // A fieldless action named by a real id is the action itself with a valid token: fuzzed with a forged one.
          await fuzz(agent, [target], named && FIELDLESS.has(path) ? 'forged-csrf-token' : csrf, STAFF_FIELDS);
        }
      }
    }
    expect(await snapshot()).toEqual(before);
    // The session survived the fuzzing: the area still opens.
    expect((await agent.request(AREAS[role]!)).status).toBe(200);
  }, 240_000);
});
