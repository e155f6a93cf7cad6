import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { SITI, createCitizen, createWebClient, enrolTotp, grantStaff, totpCode } from '../support/fixtures.js';
import { KEDIRI_CLIENT_SECRET, LOA3, closedAddress, connectKediri, kediriUpstreamSettings, startFakeUpstream, type FakeUpstream, type IdTokenTamper, type UpstreamPerson } from '../support/fake-upstream.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import type { UpstreamSettings } from '../../src/federation/upstreams.js';
import { lastEmailTo } from '../support/mail.js';
import { lastCodeTo } from '../support/messages.js';

const VERIFIED = 'urn:kediri:acr:verified';
const VERIFIED_MFA = 'urn:kediri:acr:verified-mfa';

/** People at the fake INApas: each test signs in someone of its own, so that no test sees another's account. */
const person = (login: string, claims: Record<string, unknown>, acr = LOA3): UpstreamPerson => ({ login, claims, acr });
const BUDI = person('budi', { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', phone_number: '081234567801' });

let server: TestServer;
let fake: FakeUpstream;
let rp: oidc.Configuration;

beforeAll(async () => {
  [server, fake] = await Promise.all([startTestServer({ UPSTREAM_TIMEOUT_SECONDS: '2', LOG_LEVEL: 'error' }), startFakeUpstream()]);
  await connectKediri(fake, server);
  const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Samsat Online', unit: 'samsat' });
  rp = await relyingParty(server.url, clientId, clientSecret);
});

afterAll(async () => {
  await server.close();
  await fake.close();
});

/** Our login page of a fresh authorization request, in a fresh browser. */
async function loginPage(params: Record<string, string> = {}) {
  const agent = new Agent(server.url);
  const request = await authorizationRequest(rp, { scope: 'openid profile', ...params });
  const { res, url } = await agent.follow(request.url);
  expect(url).toContain('/interaction/');
  return { agent, request, interaction: url, html: await res!.text() };
}

/** "Masuk dengan INApas" on the login page: the upstream's authorization URL our server sends the browser to. */
async function leave(agent: Agent, interaction: string, slug = 'inapas'): Promise<string> {
  const start = await agent.request(`${interaction}/masuk-dengan/${slug}`);
  expect(start.status).toBe(303);
  return start.headers.get('location')!;
}

/**
 * Signs in at the upstream (`slug`, played by `at`) as `login` and comes back: the page our server
 * shows then (or the redirect off it).
 */
async function signInUpstream(login: string, params: Record<string, string> = {}, { slug = 'inapas', at = fake } = {}) {
  const page = await loginPage(params);
  const back = await at.signIn(await leave(page.agent, page.interaction, slug), login);
  const { res, url } = await page.agent.follow(back);
  return { ...page, back, res, url };
}

/** Gives consent where asked; the code exchange of what comes back to the service. */
async function toService(agent: Agent, request: Awaited<ReturnType<typeof authorizationRequest>>, res: Response | undefined, url: string) {
  if (url.includes('/interaction/')) {
    const html = await res!.text();
    expect(html).toContain('/consent');
    const posted = await agent.post(`${url}/consent`, { _csrf: csrfTokenOf(html) });
    ({ url } = await agent.follow(posted.headers.get('location')!));
  }
  return oidc.authorizationCodeGrant(rp, new URL(url), request.checks);
}

const citizenByNik = async (nik: string) => server.instance.citizens.findByNik(nik);
const citizenCount = async () => Number((await server.instance.db.query<{ n: string }>('select count(*) as n from citizens')).rows[0]!.n);
const linkCount = async () => Number((await server.instance.db.query<{ n: string }>('select count(*) as n from upstream_links')).rows[0]!.n);

/**
 * Another upstream at a fake (`at`), with a client of its own there (client_secret_basic unless
 * `client` says otherwise): Kediri ID's settings for it are kediriUpstreamSettings with `settings`.
 */
async function addUpstream(slug: string, settings: Partial<UpstreamSettings>, { at = fake, client = {} as Record<string, unknown> } = {}) {
  const clientId = `kediri-id-${slug}`;
  at.addClient({
    client_id: clientId,
    redirect_uris: [`${server.url}/masuk-dengan/${slug}/kembali`],
    ...(Object.keys(client).length === 0 ? { client_secret: KEDIRI_CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' } : client),
  });
  await server.instance.upstreams.create(kediriUpstreamSettings(slug, at.issuer, { clientId, ...settings }), 'test', '127.0.0.1');
}
const auditCount = async (type: string) => Number((await server.instance.db.query<{ n: string }>('select count(*) as n from audit_events where type = $1', [type])).rows[0]!.n);
const lastAudit = async (type: string) =>
  (await server.instance.db.query<{ details: Record<string, unknown> }>('select details from audit_events where type = $1 order by at desc, id desc limit 1', [type])).rows[0]?.details;

describe('the login page', () => {
  test('shows "Masuk dengan INApas" beside the password form, in Indonesian and in English', async () => {
    const { html } = await loginPage();
    expect(html).toMatch(/href="\/interaction\/[^"]+\/masuk-dengan\/inapas"[^>]*>[^<]*Masuk dengan INApas/);
    const english = await loginPage({ ui_locales: 'en' });
    expect(english.html).toContain('Sign in with INApas');
  });

  test('shows the upstream\'s logo on its button once one is set, served from /masuk-dengan/SLUG/logo', async () => {
    const button = /href="\/interaction\/[^"]+\/masuk-dengan\/inapas"[^>]*>(<img [^>]*>)?\s*Masuk dengan INApas/;
    expect(button.exec((await loginPage()).html)![1]).toBeUndefined();
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d6c6a40000000049454e44ae426082', 'hex');
    await server.instance.upstreams.setLogo('inapas', png, 'test', '127.0.0.1');
    const { agent, html } = await loginPage();
    expect(button.exec(html)![1]).toBe('<img src="/masuk-dengan/inapas/logo" alt="" width="24" height="24">');
    const logo = await agent.request('/masuk-dengan/inapas/logo');
    expect(logo.status).toBe(200);
    expect(logo.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await logo.arrayBuffer())).toEqual(png);
  });

  test('an upstream that is switched off has no button and cannot be started', async () => {
    await server.instance.upstreams.create(kediriUpstreamSettings('ikd', fake.issuer, { label: 'IKD', enabled: false }), 'test', '127.0.0.1');
    const { agent, interaction, html } = await loginPage();
    expect(html).not.toContain('Masuk dengan IKD');
    const start = await agent.request(`${interaction}/masuk-dengan/ikd`);
    expect(start.status).toBe(404);
    expect(await lastAudit('upstream.failed')).toMatchObject({ upstream: 'ikd', reason: 'unknown_upstream' });
  });
});

describe('a NIK with no account', () => {
  test('makes a verified account from the upstream, without a password, and signs in to the service at verified with amr fed', async () => {
    fake.addPerson(BUDI);
    const before = await citizenCount();
    const { agent, request, res, url } = await signInUpstream('budi', { acr_values: VERIFIED });
    expect(url).toContain('/hubungkan');
    const html = await res!.text();
    expect(html).toContain('Budi Santoso');
    expect(html).toContain('3571 **** **** 0003');
    expect(html).not.toContain('3571020512880003');
    expect(html).toContain('value="budi@example.id"');
    expect(await citizenCount()).toBe(before);

    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(html), email: 'budi@example.id', phone: '0812-3456-7801' });
    expect(created.status).toBe(303);
    const next = await agent.follow(created.headers.get('location')!);
    const tokens = await toService(agent, request, next.res, next.url);
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(VERIFIED);
    expect(claims.amr).toEqual(['fed']);

    const citizen = (await citizenByNik('3571020512880003'))!;
    expect(citizen).toMatchObject({ name: 'Budi Santoso', birthdate: '1988-12-05', assurance: 'verified', email: 'budi@example.id', email_verified: false, phone: '+6281234567801', phone_verified: false });
    expect(await server.instance.citizens.hasPassword(citizen.id)).toBe(false);
    const recorded = await server.instance.db.query('select verification_method, verified_upstream from citizens where id = $1', [citizen.id]);
    expect(recorded.rows[0]).toEqual({ verification_method: 'upstream', verified_upstream: 'inapas' });
    expect(await server.instance.upstreamAccounts.links(citizen.id)).toEqual([expect.objectContaining({ slug: 'inapas' })]);
    // The email is ours to prove: the verification email went to it.
    expect((await lastEmailTo(server.instance.db, 'budi@example.id')).link).toBeTruthy();
    // No password at Kediri ID: the password form signs nobody in with any password.
    expect(await server.instance.citizens.authenticate('3571020512880003', '')).toBeUndefined();
  });

  test('the second time, the linked account is signed in at once', async () => {
    const before = await citizenCount();
    const { agent, request, res, url } = await signInUpstream('budi', { acr_values: VERIFIED });
    const tokens = await toService(agent, request, res, url);
    expect(tokens.claims()!.acr).toBe(VERIFIED);
    expect(await citizenCount()).toBe(before);
  });

  test('a bad email on the confirmation page is refused with its message, and nothing is made', async () => {
    fake.addPerson(person('rina', { nik: '3571024607950002', name: 'Rina Wati', birthdate: '1995-07-06' }));
    const { agent, res, url } = await signInUpstream('rina');
    const html = await res!.text();
    const before = await citizenCount();
    const refused = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(html), email: 'bukan-email', phone: '' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/href="#email"/);
    expect(await citizenCount()).toBe(before);
    // A forged CSRF token changes nothing either.
    const forged = await agent.post(`${url}/akun-baru`, { _csrf: 'palsu', email: '', phone: '' });
    expect(forged.status).toBe(403);
    expect(await citizenCount()).toBe(before);
  });

  test('an upstream that does not vouch (another acr) makes a basic account, and a service asking for verified is told so', async () => {
    fake.addPerson(person('eko', { nik: '3571021003000004', name: 'Eko Prasetyo', birthdate: '2000-03-10' }, 'urn:inapas:loa:1'));
    const { agent, res, url } = await signInUpstream('eko', { acr_values: VERIFIED });
    const html = await res!.text();
    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(html), email: '', phone: '' });
    expect(created.status).toBe(403);
    expect(await created.text()).toContain('MPP');
    expect((await citizenByNik('3571021003000004'))!.assurance).toBe('basic');
  });
});

describe('a NIK that has an account', () => {
  test('is linked only with the account\'s password: a wrong one links nothing', async () => {
    const siti = await createCitizen(server.instance);
    fake.addPerson(person('siti', { nik: SITI.nik, name: 'SITI AMINAH', birthdate: SITI.birthdate }));
    const { agent, request, res, url } = await signInUpstream('siti', { acr_values: VERIFIED });
    let html = await res!.text();
    expect(html).toContain('name="password"');

    const wrong = await agent.post(`${url}/sandi`, { _csrf: csrfTokenOf(html), password: 'bukan-kata-sandinya' });
    expect(wrong.status).toBe(400);
    html = await wrong.text();
    expect(html).toContain('Kata sandi salah');
    expect(await server.instance.upstreamAccounts.links(siti.id)).toEqual([]);
    expect((await server.instance.citizens.findById(siti.id))!.assurance).toBe('basic');

    const right = await agent.post(`${url}/sandi`, { _csrf: csrfTokenOf(html), password: SITI.password });
    expect(right.status).toBe(303);
    const next = await agent.follow(right.headers.get('location')!);
    const tokens = await toService(agent, request, next.res, next.url);
    expect(tokens.claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect(await server.instance.upstreamAccounts.links(siti.id)).toHaveLength(1);
    expect((await server.instance.citizens.findById(siti.id))!.assurance).toBe('verified');
    expect(await lastAudit('upstream.linked')).toMatchObject({ upstream: 'inapas', proof: 'password' });
  });

  test('or with a code sent to the account\'s verified phone: a wrong code links nothing', async () => {
    const ani = await server.instance.citizens.create(
      { nik: '3571016203910014', name: 'Ani Rahayu', birthdate: '1991-03-22', phone: '081234567814', password: 'sawah-hijau-di-pesantren' },
      { actor: 'test' },
    );
    await server.instance.db.transaction((tx) => server.instance.citizens.setVerifiedPhone(tx, ani.id, '+6281234567814'));
    fake.addPerson(person('ani', { nik: '3571016203910014', name: 'Ani Rahayu', birthdate: '1991-03-22' }));
    const { agent, request, res, url } = await signInUpstream('ani', { acr_values: VERIFIED });
    let html = await res!.text();
    expect(html).toContain('+62812*****814');
    const sent = await agent.post(`${url}/kirim-kode`, { _csrf: csrfTokenOf(html), to: 'phone', channel: 'whatsapp' });
    expect(sent.status).toBe(303);
    html = await (await agent.request(sent.headers.get('location')!)).text();
    const code = await lastCodeTo(server.instance.db, '+6281234567814');
    const wrong = await agent.post(`${url}/kode`, { _csrf: csrfTokenOf(html), code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(await server.instance.upstreamAccounts.links(ani.id)).toEqual([]);
    const right = await agent.post(`${url}/kode`, { _csrf: csrfTokenOf(await wrong.text()), code });
    expect(right.status).toBe(303);
    const next = await agent.follow(right.headers.get('location')!);
    expect((await toService(agent, request, next.res, next.url)).claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect(await lastAudit('upstream.linked')).toMatchObject({ upstream: 'inapas', proof: 'phone_code' });
  });

  test('or with a code sent to the account\'s verified email', async () => {
    const rudi = await server.instance.citizens.create(
      { nik: '3571010806930021', name: 'Rudi Hartono', birthdate: '1993-06-08', email: 'rudi@example.id', password: 'alun-alun-kota-kediri' },
      { actor: 'test', emailVerified: true },
    );
    fake.addPerson(person('rudi', { nik: '3571010806930021', name: 'Rudi Hartono', birthdate: '1993-06-08' }));
    const { agent, request, res, url } = await signInUpstream('rudi', { acr_values: VERIFIED });
    let html = await res!.text();
    const sent = await agent.post(`${url}/kirim-kode`, { _csrf: csrfTokenOf(html), to: 'email' });
    expect(sent.status).toBe(303);
    html = await (await agent.request(sent.headers.get('location')!)).text();
    expect(html).toContain('name="code"');
    const { code, subject } = await lastEmailTo(server.instance.db, 'rudi@example.id');
    expect(subject).toContain('menghubungkan');
    const wrong = await agent.post(`${url}/kode`, { _csrf: csrfTokenOf(html), code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(await server.instance.upstreamAccounts.links(rudi.id)).toEqual([]);
    const right = await agent.post(`${url}/kode`, { _csrf: csrfTokenOf(await wrong.text()), code: code! });
    expect(right.status).toBe(303);
    const next = await agent.follow(right.headers.get('location')!);
    expect((await toService(agent, request, next.res, next.url)).claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect(await lastAudit('upstream.linked')).toMatchObject({ upstream: 'inapas', proof: 'email_code' });
  });

  test('an account with its own second factor is asked for it after the upstream, and reaches verified-mfa with it', async () => {
    const wati = await server.instance.citizens.create(
      { nik: '3571015704920020', name: 'Wati Lestari', birthdate: '1992-04-17', email: 'wati@example.id', password: 'kereta-api-stasiun-kediri' },
      { actor: 'test', emailVerified: true },
    );
    const totp = await enrolTotp(server.instance, 'wati@example.id');
    fake.addPerson(person('wati', { nik: '3571015704920020', name: 'Wati Lestari', birthdate: '1992-04-17' }));
    const { agent, request, res, url } = await signInUpstream('wati', { acr_values: `${VERIFIED_MFA} ${VERIFIED}` });
    const linked = await agent.post(`${url}/sandi`, { _csrf: csrfTokenOf(await res!.text()), password: 'kereta-api-stasiun-kediri' });
    expect(linked.status).toBe(200);
    const html = await linked.text();
    expect(html).toContain('Kode dari aplikasi autentikator');
    expect(await server.instance.upstreamAccounts.links(wati.id)).toHaveLength(1);
    const wrong = await agent.post(`${url.replace(/\/hubungkan$/, '')}/otp`, { _csrf: csrfTokenOf(html), code: '000000' });
    expect(wrong.status).toBe(400);
    const passed = await agent.post(`${url.replace(/\/hubungkan$/, '')}/otp`, { _csrf: csrfTokenOf(html), code: await totpCode(totp) });
    expect(passed.status).toBe(303);
    const next = await agent.follow(passed.headers.get('location')!);
    expect((await toService(agent, request, next.res, next.url)).claims()).toMatchObject({ acr: VERIFIED_MFA, amr: ['fed', 'otp'] });
  });

  test('an unverified account with another name is not linked: the citizen is sent to the counter', async () => {
    const dewi = await server.instance.citizens.create(
      { nik: '3571035506850002', name: 'Dewi Lestari', birthdate: '1985-06-15', email: 'dewi@example.id', password: 'loket-mpp-dhoho-plaza' },
      { actor: 'test', emailVerified: true },
    );
    fake.addPerson(person('dewi', { nik: '3571035506850002', name: 'Dewi Kartika Sari', birthdate: '1985-06-15' }));
    const { res } = await signInUpstream('dewi');
    expect(res!.status).toBe(409);
    const html = await res!.text();
    expect(html).toContain('loket Mal Pelayanan Publik');
    expect(html).not.toContain('name="password"');
    expect(await server.instance.upstreamAccounts.links(dewi.id)).toEqual([]);
    expect(await lastAudit('upstream.link_refused')).toMatchObject({ upstream: 'inapas', reason: 'counter' });
  });
});

describe('what the upstream sends is checked', () => {
  test('a NIK our rules refuse (an unknown province) makes and links nothing', async () => {
    fake.addPerson(person('asing', { nik: '9971014101900001', name: 'Orang Asing', birthdate: '1990-01-01' }));
    const before = await citizenCount();
    const { res } = await signInUpstream('asing');
    expect(res!.status).toBe(403);
    expect(await res!.text()).toContain('tidak mengirim NIK yang sah');
    expect(await citizenCount()).toBe(before);
    expect(await lastAudit('upstream.link_refused')).toMatchObject({ reason: 'nik_invalid' });
  });

  test.each<IdTokenTamper>(['wrong_signature', 'wrong_audience', 'expired', 'wrong_nonce', 'wrong_issuer'])(
    'an ID token with %s is refused: an error page with the other ways to sign in, nothing made',
    async (tamper) => {
      fake.addPerson(person(`palsu-${tamper}`, { nik: '3571025501990005', name: 'Tamper Test', birthdate: '1999-01-15' }));
      const page = await loginPage();
      const back = await fake.signIn(await leave(page.agent, page.interaction), `palsu-${tamper}`);
      fake.tamperNext(tamper);
      const before = await citizenCount();
      const { res, url } = await page.agent.follow(back);
      expect(url).toContain('/masuk-dengan/inapas/kembali');
      expect(res!.status).toBe(502);
      const html = await res!.text();
      expect(html).toContain('tidak dapat kami percayai');
      expect(html).toContain(`href="${new URL(page.interaction).pathname}"`);
      // The answer's code never reaches the page (the language link included).
      expect(html).not.toContain(new URL(back).searchParams.get('code')!);
      expect(await citizenCount()).toBe(before);
      expect(await lastAudit('upstream.failed')).toMatchObject({ upstream: 'inapas', reason: 'invalid_response', stage: 'return' });
    },
  );

  test('the error page is in English when English is chosen', async () => {
    fake.addPerson(person('inggris', { nik: '3571025602990012', name: 'English Test', birthdate: '1999-02-16' }));
    const page = await loginPage();
    expect((await page.agent.request('/?lang=en')).status).toBe(200);
    const back = await fake.signIn(await leave(page.agent, page.interaction), 'inggris');
    fake.tamperNext('wrong_signature');
    const { res } = await page.agent.follow(back);
    expect(res!.status).toBe(502);
    const html = await res!.text();
    expect(html).toContain('<html lang="en"');
    expect(html).toContain('Signing in with INApas did not work');
    expect(html).toContain('The answer from INApas could not be trusted, so we did not use it.');
    expect(html).toContain('No account was created or linked.');
    expect(html).toMatch(new RegExp(`href="${new URL(page.interaction).pathname}">Sign in another way<`));
    expect(html).not.toContain('tidak dapat kami percayai');
  });

  test('a replayed answer (the same state twice) is refused, audited, and makes nothing', async () => {
    fake.addPerson(person('ulang', { nik: '3571026602920006', name: 'Ulang Test', birthdate: '1992-02-26' }));
    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction), 'ulang');
    const first = await page.agent.request(back);
    expect(first.status).toBe(303);
    const [citizens, links, failures] = [await citizenCount(), await linkCount(), await auditCount('upstream.failed')];
    const again = await page.agent.request(back);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('sudah dipakai');
    expect(await auditCount('upstream.failed')).toBe(failures + 1);
    expect(await lastAudit('upstream.failed')).toEqual({ upstream: 'inapas', reason: 'state_invalid', stage: 'return' });
    expect([await citizenCount(), await linkCount()]).toEqual([citizens, links]);
  });

  test('an answer carried to another browser signs nobody in there', async () => {
    fake.addPerson(person('lain', { nik: '3571026702930007', name: 'Lain Test', birthdate: '1993-02-27' }));
    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction), 'lain');
    const other = await new Agent(server.url).request(back);
    expect(other.status).toBe(400);
    expect(await lastAudit('upstream.failed')).toMatchObject({ reason: 'state_invalid' });
    // The browser that left can still come back.
    expect((await page.agent.request(back)).status).toBe(303);
  });

  test('the person refusing at the upstream gives the refused page, nothing made', async () => {
    const page = await loginPage();
    const back = await fake.refuse(await leave(page.agent, page.interaction));
    const { res } = await page.agent.follow(back);
    expect(res!.status).toBe(400);
    expect(await res!.text()).toContain('tidak memberikan izin');
    expect(await lastAudit('upstream.failed')).toMatchObject({ reason: 'refused' });
  });
});

describe('the session\'s level is what the upstream proved', () => {
  const BASIC = 'urn:kediri:acr:basic';
  /** An acr the upstream 'inapas-mfa' lists as verified with a second factor (its MFA list). */
  const LOA4 = 'urn:inapas:loa:4';

  beforeAll(() => addUpstream('inapas-mfa', { label: 'INApas MFA', mfaAcr: LOA4 }));

  test('an upstream acr on the MFA list gives verified-mfa; one only on the verified list does not', async () => {
    fake.addPerson(person('kuat', { nik: '3571021904890022', name: 'Kuat Santoso', birthdate: '1989-04-19' }, LOA4));
    const { agent, request, res, url } = await signInUpstream('kuat', { acr_values: VERIFIED_MFA }, { slug: 'inapas-mfa' });
    expect(url).toContain('/hubungkan');
    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(await res!.text()), email: '', phone: '' });
    expect(created.status).toBe(303);
    const next = await agent.follow(created.headers.get('location')!);
    expect((await toService(agent, request, next.res, next.url)).claims()).toMatchObject({ acr: VERIFIED_MFA, amr: ['fed'] });
    expect((await citizenByNik('3571021904890022'))!.assurance).toBe('verified');

    // The same person proving only LOA3 there: verified at most.
    fake.addPerson(person('kuat', { nik: '3571021904890022', name: 'Kuat Santoso', birthdate: '1989-04-19' }, LOA3));
    const again = await signInUpstream('kuat', {}, { slug: 'inapas-mfa' });
    expect((await toService(again.agent, again.request, again.res, again.url)).claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
  });

  test('a verified account signing in through an acr that vouches for nothing gets basic for that session, and stays verified', async () => {
    const claims = { nik: '3571022003880024', name: 'Naik Turun', birthdate: '1988-03-20' };
    fake.addPerson(person('naik', claims));
    const made = await signInUpstream('naik');
    expect((await made.agent.post(`${made.url}/akun-baru`, { _csrf: csrfTokenOf(await made.res!.text()), email: '', phone: '' })).status).toBe(303);
    const citizen = (await citizenByNik('3571022003880024'))!;
    expect(citizen.assurance).toBe('verified');

    fake.addPerson(person('naik', claims, 'urn:inapas:loa:1'));
    const { agent, request, res, url } = await signInUpstream('naik');
    expect((await toService(agent, request, res, url)).claims()).toMatchObject({ acr: BASIC, amr: ['fed'] });
    // A service that asks for verified is not given it from such a login.
    const unmet = await auditCount('assurance.unmet');
    const asked = await signInUpstream('naik', { acr_values: VERIFIED });
    expect(asked.res!.status).toBe(403);
    expect(await auditCount('assurance.unmet')).toBe(unmet + 1);
    expect((await server.instance.citizens.findById(citizen.id))!.assurance).toBe('verified');
  });
});

describe('private_key_jwt at the upstream\'s token endpoint', () => {
  test('with our EC key, which the upstream fetches from /masuk-dengan/SLUG/jwks.json, the code is exchanged', async () => {
    await addUpstream('inapas-jwt', { label: 'INApas JWT', authMethod: 'private_key_jwt', clientSecret: '' }, {
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${server.url}/masuk-dengan/inapas-jwt/jwks.json` },
    });
    expect(await server.instance.upstreams.credentials('inapas-jwt')).toMatchObject({ method: 'private_key_jwt' });
    fake.addPerson(person('kunci', { nik: '3571022104870025', name: 'Kunci Publik', birthdate: '1987-04-21' }));
    const { agent, request, res, url } = await signInUpstream('kunci', { acr_values: VERIFIED }, { slug: 'inapas-jwt' });
    expect(url).toContain('/hubungkan');
    const html = await res!.text();
    expect(html).toContain('Kunci Publik');
    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(html), email: '', phone: '' });
    const next = await agent.follow(created.headers.get('location')!);
    expect((await toService(agent, request, next.res, next.url)).claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect(await server.instance.upstreamAccounts.links((await citizenByNik('3571022104870025'))!.id)).toEqual([expect.objectContaining({ slug: 'inapas-jwt' })]);
  });

  test('an upstream that does not trust our key refuses the exchange: an error page, nothing made, audited', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const stranger = { ...(await exportJWK(publicKey)), kid: 'bukan-kunci-kami', alg: 'ES256', use: 'sig' };
    await addUpstream('inapas-asing', { label: 'INApas Asing', authMethod: 'private_key_jwt', clientSecret: '' }, {
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [stranger] } },
    });
    fake.addPerson(person('asing-kunci', { nik: '3571022205860026', name: 'Kunci Asing', birthdate: '1986-05-22' }));
    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction, 'inapas-asing'), 'asing-kunci');
    const [citizens, links] = [await citizenCount(), await linkCount()];
    const { res, url } = await page.agent.follow(back);
    expect(url).toContain('/masuk-dengan/inapas-asing/kembali');
    expect(res!.status).toBe(400);
    const html = await res!.text();
    expect(html).toContain('INApas Asing tidak memberikan izin masuk');
    expect(html).toContain('Tidak ada akun yang dibuat atau dihubungkan');
    expect(html).toContain(`href="${new URL(page.interaction).pathname}"`);
    expect(await lastAudit('upstream.failed')).toEqual({ upstream: 'inapas-asing', reason: 'refused', stage: 'return' });
    expect([await citizenCount(), await linkCount()]).toEqual([citizens, links]);
    expect(await citizenByNik('3571022205860026')).toBeUndefined();
  });
});

describe('an upstream that sends the NIK from userinfo only, under claim names of its own', () => {
  let ikd: FakeUpstream;

  beforeAll(async () => {
    ikd = await startFakeUpstream({ nikClaim: 'nik_ktp', profileClaims: ['nama_lengkap', 'tanggal_lahir'], claimsInUserinfoOnly: true });
    await addUpstream('ikd-info', {
      label: 'IKD', scopes: 'openid profile nik_ktp', nikClaim: 'nik_ktp',
      claimMap: { name: 'nama_lengkap', birthdate: 'tanggal_lahir', email: 'email', phone: 'phone_number' },
    }, { at: ikd });
  });

  afterAll(() => ikd.close());

  test('the NIK is read from userinfo and the claim map applied: the account gets the upstream\'s name and birth date', async () => {
    ikd.addPerson(person('sari', { nik_ktp: '3571014808940023', nama_lengkap: 'Sari Puspita', tanggal_lahir: '1994-08-08' }));
    const { agent, request, res, url } = await signInUpstream('sari', { acr_values: VERIFIED }, { slug: 'ikd-info', at: ikd });
    expect(url).toContain('/hubungkan');
    const html = await res!.text();
    expect(html).toContain('Sari Puspita');
    expect(html).toContain('3571 **** **** 0023');
    // The ID token carried none of them: the NIK came from the userinfo endpoint.
    const idToken = ikd.lastIdTokenClaims('sari')!;
    expect(idToken).toMatchObject({ sub: 'sari', acr: LOA3 });
    for (const claim of ['nik_ktp', 'nama_lengkap', 'tanggal_lahir']) expect(idToken).not.toHaveProperty(claim);

    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(html), email: '', phone: '' });
    expect(created.status).toBe(303);
    const next = await agent.follow(created.headers.get('location')!);
    expect((await toService(agent, request, next.res, next.url)).claims()).toMatchObject({ acr: VERIFIED, amr: ['fed'] });
    expect(await citizenByNik('3571014808940023')).toMatchObject({ name: 'Sari Puspita', birthdate: '1994-08-08', assurance: 'verified' });
  });
});

describe('an upstream that is down or slow', () => {
  test('down before the sign-in starts: a clear page, with the other ways', async () => {
    await server.instance.upstreams.create(kediriUpstreamSettings('mati', await closedAddress(), { label: 'Mati' }), 'test', '127.0.0.1');
    const { agent, interaction } = await loginPage();
    const start = await agent.request(`${interaction}/masuk-dengan/mati`);
    expect(start.status).toBe(502);
    expect(await start.text()).toContain('tidak dapat dihubungi');
    expect(await lastAudit('upstream.failed')).toMatchObject({ upstream: 'mati', reason: 'unreachable', stage: 'start' });
  });

  test('down when the code is exchanged: nothing made', async () => {
    fake.addPerson(person('turun', { nik: '3571027003940008', name: 'Turun Test', birthdate: '1994-03-30' }));
    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction), 'turun');
    const [citizens, links] = [await citizenCount(), await linkCount()];
    await fake.stop();
    try {
      const { res } = await page.agent.follow(back);
      expect(res!.status).toBe(502);
      const html = await res!.text();
      expect(html).toContain('tidak dapat dihubungi');
      expect(html).toContain('Tidak ada akun yang dibuat atau dihubungkan');
      expect(await lastAudit('upstream.failed')).toMatchObject({ reason: 'unreachable', stage: 'return' });
      expect([await citizenCount(), await linkCount()]).toEqual([citizens, links]);
      expect(await citizenByNik('3571027003940008')).toBeUndefined();
    } finally {
      await fake.restart();
    }
  });

  test('slower than UPSTREAM_TIMEOUT_SECONDS: a timeout page', async () => {
    fake.addPerson(person('lambat', { nik: '3571027103950009', name: 'Lambat Test', birthdate: '1995-03-31' }));
    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction), 'lambat');
    const [citizens, links] = [await citizenCount(), await linkCount()];
    fake.delayMs = 4000;
    try {
      const { res } = await page.agent.follow(back);
      expect(res!.status).toBe(504);
      expect(await res!.text()).toContain('terlalu lama');
      expect(await lastAudit('upstream.failed')).toMatchObject({ reason: 'timeout', stage: 'return' });
      expect([await citizenCount(), await linkCount()]).toEqual([citizens, links]);
      expect(await citizenByNik('3571027103950009')).toBeUndefined();
    } finally {
      fake.delayMs = 0;
    }
  });
});

describe('the upstream\'s back-channel logout', () => {
  test('ends the session that began with it; a forged, nonce-carrying or replayed logout token is refused', async () => {
    fake.addPerson(person('keluar', { nik: '3571025804960010', name: 'Keluar Test', birthdate: '1996-04-18' }));
    const { agent, res, url } = await signInUpstream('keluar');
    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(await res!.text()), email: '', phone: '' });
    expect(created.status).toBe(303);
    await agent.follow(created.headers.get('location')!);
    const citizen = (await citizenByNik('3571025804960010'))!;
    expect(await server.instance.account.sessions(citizen.id)).toHaveLength(1);
    const sid = fake.lastSid('keluar');
    expect(sid).toBeTruthy();

    expect(await fake.backchannelLogout('kediri-id', { sub: 'keluar', sid }, { wrongSignature: true })).toBe(400);
    expect(await fake.backchannelLogout('kediri-id', { sub: 'keluar', sid }, { withNonce: true })).toBe(400);
    expect(await fake.backchannelLogout('kediri-id', { sub: 'keluar', sid }, { noEvents: true })).toBe(400);
    expect(await fake.backchannelLogout('kediri-id', { sub: 'keluar', sid }, { audience: 'someone-else' })).toBe(400);
    expect(await server.instance.account.sessions(citizen.id)).toHaveLength(1);

    const before = await server.instance.citizens.databaseNow();
    expect(await server.instance.citizens.sessionStands(citizen.id, before)).toBe(true);
    expect(await fake.backchannelLogout('kediri-id', { sub: 'keluar', sid }, { jti: 'sekali-saja' })).toBe(200);
    expect(await server.instance.account.sessions(citizen.id)).toHaveLength(0);
    // Kediri ID's own pages signed in before then are signed out too.
    expect(await server.instance.citizens.sessionStands(citizen.id, before)).toBe(false);
    expect(await lastAudit('upstream.logout')).toMatchObject({ upstream: 'inapas', sessions: 1 });
    expect(await fake.backchannelLogout('kediri-id', { sub: 'keluar', sid }, { jti: 'sekali-saja' })).toBe(400);
    expect(await auditCount('upstream.logout_refused')).toBeGreaterThanOrEqual(5);
  });
});

describe('the review\'s cases', () => {
  test('a name changed while the account is proved: not linked, not verified', async () => {
    const hadi = await server.instance.citizens.create(
      { nik: '3571011211870015', name: 'Hadi Susanto', birthdate: '1987-11-12', email: 'hadi@example.id', password: 'gunung-kelud-pagi-hari' },
      { actor: 'test', emailVerified: true },
    );
    fake.addPerson(person('hadi', { nik: '3571011211870015', name: 'Hadi Susanto', birthdate: '1987-11-12' }));
    const { agent, res, url } = await signInUpstream('hadi');
    const html = await res!.text();
    await server.instance.db.transaction((tx) => server.instance.citizens.setProfile(tx, hadi.id, { name: 'Hadi Lain', address: null }));
    const posted = await agent.post(`${url}/sandi`, { _csrf: csrfTokenOf(html), password: 'gunung-kelud-pagi-hari' });
    const next = await agent.follow(posted.headers.get('location')!);
    expect(next.res!.status).toBe(409);
    expect(await server.instance.upstreamAccounts.links(hadi.id)).toEqual([]);
    expect((await server.instance.citizens.findById(hadi.id))!.assurance).toBe('basic');
  });

  test('an account with neither a password nor a verified phone is not offered a password form', async () => {
    fake.addClient({
      client_id: 'kediri-id-kedua',
      client_secret: KEDIRI_CLIENT_SECRET,
      redirect_uris: [`${server.url}/masuk-dengan/kedua/kembali`],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    await server.instance.upstreams.create(kediriUpstreamSettings('kedua', fake.issuer, { label: 'Kedua', clientId: 'kediri-id-kedua' }), 'test', '127.0.0.1');
    fake.addPerson(person('tanpa', { nik: '3571011312880016', name: 'Tanpa Sandi', birthdate: '1988-12-13' }));
    const made = await signInUpstream('tanpa');
    expect((await made.agent.post(`${made.url}/akun-baru`, { _csrf: csrfTokenOf(await made.res!.text()), email: '', phone: '' })).status).toBe(303);

    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction, 'kedua'), 'tanpa');
    const { res } = await page.agent.follow(back);
    expect(res!.status).toBe(403);
    const html = await res!.text();
    expect(html).not.toContain('name="password"');
    expect(await lastAudit('upstream.link_refused')).toMatchObject({ upstream: 'kedua', reason: 'no_proof' });
  });

  test('an email another account holds is not told: the account is made without it', async () => {
    fake.addPerson(person('salin', { nik: '3571011401890017', name: 'Salin Email', birthdate: '1989-01-14' }));
    const { agent, res, url } = await signInUpstream('salin');
    const created = await agent.post(`${url}/akun-baru`, { _csrf: csrfTokenOf(await res!.text()), email: 'budi@example.id', phone: '' });
    expect(created.status).toBe(303);
    expect((await citizenByNik('3571011401890017'))!.email).toBeNull();
  });

  test('a first password waits for a contact, with a clear message', async () => {
    fake.addPerson(person('kosong', { nik: '3571011502900018', name: 'Kontak Kosong', birthdate: '1990-02-15' }));
    const made = await signInUpstream('kosong');
    expect((await made.agent.post(`${made.url}/akun-baru`, { _csrf: csrfTokenOf(await made.res!.text()), email: '', phone: '' })).status).toBe(303);
    const agent = new Agent(server.url);
    const { url } = await agent.follow('/masuk?ulang=1&lanjut=/akun');
    await agent.follow(await fake.signIn(await leave(agent, url), 'kosong'));
    const form = await agent.request('/akun/kata-sandi');
    const refused = await agent.post('/akun/kata-sandi', { _csrf: csrfTokenOf(await form.text()), password: 'jembatan-lama-brantas', password_confirm: 'jembatan-lama-brantas' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Tambahkan email atau nomor HP');
    expect(await server.instance.citizens.hasPassword((await citizenByNik('3571011502900018'))!.id)).toBe(false);
  });

  test('an upstream switched off stops the sign-ins under way', async () => {
    fake.addPerson(person('henti', { nik: '3571011603910019', name: 'Henti Test', birthdate: '1991-03-16' }));
    fake.addClient({ client_id: 'kediri-id-henti', client_secret: KEDIRI_CLIENT_SECRET, redirect_uris: [`${server.url}/masuk-dengan/henti/kembali`], token_endpoint_auth_method: 'client_secret_basic' });
    await server.instance.upstreams.create(kediriUpstreamSettings('henti', fake.issuer, { label: 'Henti', clientId: 'kediri-id-henti' }), 'test', '127.0.0.1');
    const page = await loginPage();
    const back = await fake.signIn(await leave(page.agent, page.interaction, 'henti'), 'henti');
    await server.instance.upstreams.update(kediriUpstreamSettings('henti', fake.issuer, { label: 'Henti', clientId: 'kediri-id-henti', enabled: false }), 'test', '127.0.0.1');
    const { res } = await page.agent.follow(back);
    expect(res!.status).toBe(400);
    expect(await citizenByNik('3571011603910019')).toBeUndefined();
  });
});

describe('the links on /akun', () => {
  /**
   * Signs in to Kediri ID's own pages at the upstream, in a fresh browser: the page it lands on,
   * and the upstream's authorization URL. `again`: as an action that asks for a recent login does.
   */
  async function portalAtUpstream(login: string, next = '/akun', { again = false } = {}) {
    const agent = new Agent(server.url);
    const { url } = await agent.follow(`/masuk?${again ? 'ulang=1&' : ''}lanjut=${encodeURIComponent(next)}`);
    const upstreamUrl = await leave(agent, url);
    const back = await fake.signIn(upstreamUrl, login);
    return { agent, upstreamUrl: new URL(upstreamUrl), ...(await agent.follow(back)) };
  }

  test('are listed; the only way in cannot be unlinked until a password is set (after a recent login), then it can', async () => {
    fake.addPerson(person('tautan', { nik: '3571021507970011', name: 'Tautan Test', birthdate: '1997-07-15', email: 'tautan@example.id' }));
    const made = await signInUpstream('tautan');
    expect((await made.agent.post(`${made.url}/akun-baru`, { _csrf: csrfTokenOf(await made.res!.text()), email: 'tautan@example.id', phone: '' })).status).toBe(303);
    const citizen = (await citizenByNik('3571021507970011'))!;
    const verification = await lastEmailTo(server.instance.db, 'tautan@example.id');

    // Signed in at the upstream's session only: not a recent login, so the first password waits for one.
    const plain = await portalAtUpstream('tautan');
    expect(plain.upstreamUrl.searchParams.get('prompt')).toBeNull();
    const waits = await plain.agent.request('/akun/kata-sandi');
    expect(waits.status).toBe(303);
    expect(waits.headers.get('location')).toContain('/masuk?ulang=1');
    const overview = await (await plain.agent.request('/akun')).text();
    const notYet = await plain.agent.post('/akun/masuk-dengan/hapus', { _csrf: csrfTokenOf(overview), upstream: 'inapas' });
    expect(notYet.status).toBe(303);
    expect(notYet.headers.get('location')).toContain('/masuk?ulang=1');

    // Asked again: the upstream must sign the person in anew (prompt=login, max_age=0, auth_time checked).
    const { agent, res, url, upstreamUrl } = await portalAtUpstream('tautan', '/akun', { again: true });
    expect(upstreamUrl.searchParams.get('prompt')).toBe('login');
    expect(upstreamUrl.searchParams.get('max_age')).toBe('0');
    expect(url).toBe(`${server.url}/akun`);
    let html = await res!.text();
    expect(html).toContain('Putuskan INApas');
    expect(html).toContain('Buat kata sandi');

    const unlink = await agent.post('/akun/masuk-dengan/hapus', { _csrf: csrfTokenOf(html), upstream: 'inapas' });
    expect(unlink.status).toBe(409);
    expect(await unlink.text()).toContain('satu-satunya cara masuk');
    expect(await server.instance.upstreamAccounts.links(citizen.id)).toHaveLength(1);

    // The first password: no current one to give, the login at the upstream a minute ago is the proof.
    const form = await agent.request('/akun/kata-sandi');
    expect(form.status).toBe(200);
    html = await form.text();
    expect(html).not.toContain('name="current"');
    const set = await agent.post('/akun/kata-sandi', { _csrf: csrfTokenOf(html), current: '', password: 'lampu-kota-kediri-malam', password_confirm: 'lampu-kota-kediri-malam' });
    expect(set.status).toBe(303);
    expect(await server.instance.citizens.hasPassword(citizen.id)).toBe(true);

    // Now the password is another way in (with the email proved by the link we sent it): the link
    // can go. A new session: setting the password ended the others.
    const again = new Agent(server.url);
    const confirm = await again.follow(verification.link!);
    const token = new URL(verification.link!).searchParams.get('token')!;
    expect((await again.post('/verifikasi', { _csrf: csrfTokenOf(await confirm.res!.text()), token })).status).toBe(200);
    expect((await server.instance.citizens.findById(citizen.id))!.email_verified).toBe(true);
    const login = await again.follow('/masuk?lanjut=/akun');
    const signedIn = await again.post(`${login.url}/login`, { _csrf: csrfTokenOf(await login.res!.text()), identifier: '3571021507970011', password: 'lampu-kota-kediri-malam' });
    const account = await again.follow(signedIn.headers.get('location')!);
    expect(account.url).toBe(`${server.url}/akun`);
    const removed = await again.post('/akun/masuk-dengan/hapus', { _csrf: csrfTokenOf(await account.res!.text()), upstream: 'inapas' });
    expect(removed.status).toBe(303);
    expect(await server.instance.upstreamAccounts.links(citizen.id)).toEqual([]);
    expect(await lastAudit('upstream.unlinked')).toMatchObject({ upstream: 'inapas' });
  });

  test('a login at the upstream does not open a staff area (our second factor was not used)', async () => {
    fake.addPerson(person('petugas', { nik: '3571024109860013', name: 'Petugas Test', birthdate: '1986-09-01' }));
    const made = await signInUpstream('petugas');
    expect((await made.agent.post(`${made.url}/akun-baru`, { _csrf: csrfTokenOf(await made.res!.text()), email: 'petugas@kedirikota.go.id', phone: '' })).status).toBe(303);
    await server.instance.citizens.markEmailVerified(server.instance.db, (await citizenByNik('3571024109860013'))!.id);
    const { totp } = await grantStaff(server.instance, 'petugas@kedirikota.go.id', 'officer');
    // The officer's own second factor is asked for after the upstream; even with it, no staff area.
    const upstream = await portalAtUpstream('petugas', '/loket');
    const otp = await upstream.agent.post(`${upstream.url.replace(/\/hubungkan$/, '')}/otp`, { _csrf: csrfTokenOf(await upstream.res!.text()), code: await totpCode(totp) });
    expect(otp.status).toBe(303);
    const { url, res } = await upstream.agent.follow(otp.headers.get('location')!);
    expect(url).toBe(`${server.url}/loket`);
    expect(res!.status).toBe(403);
    expect(await res!.text()).toContain('kata sandi dan verifikasi dua langkah');
  });
});
