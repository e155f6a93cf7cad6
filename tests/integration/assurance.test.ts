import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { runOperatorCommand } from '../../src/operator.js';
import { createIdentityVerification } from '../../src/identity/identity-verification.js';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { startPopulationService, type PopulationService } from '../support/population-service.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { emailsTo, lastEmailTo } from '../support/mail.js';
import { lastMessageTo } from '../support/messages.js';

const VERIFIED = 'urn:kediri:acr:verified';
const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const OFFICER = { nik: '3571035506850002', name: 'Dewi Petugas', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'loket-mpp-dhoho-plaza' };

let server: TestServer;
let population: PopulationService;
let rp: oidc.Configuration;
let officerTotp: string;

beforeAll(async () => {
  population = await startPopulationService({
    clientId: 'kediri-id',
    clientSecret: 'rahasia-layanan',
    records: [{ nik: SITI.nik, name: SITI.name, birthPlace: 'Kediri', birthdate: SITI.birthdate }],
  });
  server = await startTestServer({
    POPULATION_VERIFIER_URL: population.url,
    POPULATION_VERIFIER_CLIENT_ID: 'kediri-id',
    POPULATION_VERIFIER_CLIENT_SECRET: 'rahasia-layanan',
  });
  for (const citizen of [SITI, BUDI, OFFICER]) await createCitizen(server.instance, citizen);
  officerTotp = (await grantStaff(server.instance, OFFICER.email, 'officer')).totp;
  const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Samsat Online', unit: 'samsat' });
  rp = await relyingParty(server.url, clientId, clientSecret);
});

afterAll(async () => {
  await server.close();
  await population.close();
});

const assuranceOf = async (email: string) =>
  (await server.instance.db.query<{ assurance: string; verification_method: string | null; verified_by: string | null }>(
    'select assurance, verification_method, verified_by from citizens where email = $1',
    [email],
  )).rows[0]!;

/** Signs in on the login page of a fresh authorization request; returns the page that follows. */
async function loginAt(agent: Agent, request: { url: string }, who: { email: string; password: string }) {
  const { res, url } = await agent.follow(request.url);
  const _csrf = csrfTokenOf(await res!.text());
  const posted = await agent.post(`${url}/login`, { _csrf, identifier: who.email, password: who.password });
  return { posted, url };
}

/** A staff member signs in to /loket through Kediri ID (the first-party staff client). */
async function staffAgent(who: { email: string; password: string }, totp?: string): Promise<{ agent: Agent; page: Response }> {
  const agent = new Agent(server.url);
  const start = await agent.request('/loket');
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { totp });
  const { res } = await agent.follow(landed);
  return { agent, page: res! };
}

describe('assurance levels', () => {
  test('discovery advertises the three acr values', () => {
    expect(rp.serverMetadata().acr_values_supported).toEqual([
      'urn:kediri:acr:basic',
      'urn:kediri:acr:verified',
      'urn:kediri:acr:verified-mfa',
    ]);
  });

  test('a basic account asked for a verified identity sees how to get verified; the client gets unmet_authentication_requirements', async () => {
    const request = await authorizationRequest(rp, { acr_values: VERIFIED });
    const agent = new Agent(server.url);
    const { posted, url } = await loginAt(agent, request, BUDI);
    expect(posted.status).toBe(403);
    const html = await posted.text();
    expect(html).toContain('memerlukan identitas yang sudah diverifikasi');
    expect(html).toContain('KTP-el');
    const back = await agent.post(`${url}/unmet`, { _csrf: csrfTokenOf(html) });
    const { url: callback } = await agent.follow(back.headers.get('location')!);
    expect(new URL(callback).searchParams.get('error')).toBe('unmet_authentication_requirements');
    await expect(oidc.authorizationCodeGrant(rp, new URL(callback), request.checks)).rejects.toMatchObject({
      error: 'unmet_authentication_requirements',
    });
    expect((await assuranceOf(BUDI.email)).assurance).toBe('basic');
  });

  test('the online population check: a wrong birth place is refused, the right one verifies and completes the login', async () => {
    const request = await authorizationRequest(rp, { acr_values: VERIFIED });
    const agent = new Agent(server.url);
    const { posted, url } = await loginAt(agent, request, SITI);
    expect(posted.status).toBe(403);
    const _csrf = csrfTokenOf(await posted.text());
    const before = population.requests;

    const wrong = await agent.post(`${url}/verifikasi-data`, { _csrf, birth_place: 'Surabaya' });
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toContain('tidak cocok dengan data kependudukan');
    expect((await assuranceOf(SITI.email)).assurance).toBe('basic');

    const right = await agent.post(`${url}/verifikasi-data`, { _csrf, birth_place: 'kediri' });
    expect(right.status).toBe(303);
    expect(population.requests).toBe(before + 2);
    expect(await assuranceOf(SITI.email)).toMatchObject({ assurance: 'verified', verification_method: 'population_data' });
    const callback = await signIn(agent, right.headers.get('location')!, SITI.email, SITI.password);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
    expect(tokens.claims()!.acr).toBe(VERIFIED);
  });

  test('online checks are limited on the server: repeated wrong guesses are held back', async () => {
    const rina = { nik: '3571015508920004', name: 'Rina Wati', birthdate: '1992-08-15', email: 'rina.cek@example.id', password: 'kopi-tubruk-pagi-hari' };
    await createCitizen(server.instance, rina);
    const request = await authorizationRequest(rp, { acr_values: VERIFIED });
    const agent = new Agent(server.url);
    const { posted, url } = await loginAt(agent, request, rina);
    const _csrf = csrfTokenOf(await posted.text());
    const before = population.requests;
    const pages: string[] = [];
    for (const place of ['Blitar', 'Tulungagung', 'Nganjuk', 'Jombang', 'Madiun']) {
      pages.push(await (await agent.post(`${url}/verifikasi-data`, { _csrf, birth_place: place })).text());
    }
    expect(population.requests - before).toBe(4);
    expect(pages[4]).toContain('Terlalu banyak percobaan pemeriksaan');
  });

  test('the online check cannot be used for someone else\'s interaction', async () => {
    const agent = new Agent(server.url);
    const { url } = await agent.follow((await authorizationRequest(rp, { acr_values: VERIFIED })).url);
    const res = await agent.post(`${url}/verifikasi-data`, { _csrf: csrfTokenOf(await (await agent.request(url)).text()), birth_place: 'Kediri' });
    expect(res.status).toBe(400);
  });

  test('a session at basic level is asked to log in again when a client wants a verified identity', async () => {
    const agent = new Agent(server.url);
    await signIn(agent, (await authorizationRequest(rp, { prompt: 'consent' })).url, BUDI.email, BUDI.password);
    const { res } = await agent.follow((await authorizationRequest(rp, { acr_values: VERIFIED })).url);
    expect(await res!.text()).toContain('name="password"');
  });
});

describe('the online check and a concurrent name change', () => {
  test('a name changed while the population service is asked is not verified: only the name it matched could be', async () => {
    const RINA = { nik: '3571015503920004', name: 'Rina Wulandari', birthdate: '1992-03-15', email: 'rina.wulandari@example.id', password: 'kebun-teh-wilis-pagi' };
    const { id } = await createCitizen(server.instance, RINA);
    const { db, citizens, audit } = server.instance;
    // The register answers "match" for the name it was asked about; meanwhile the profile changes it.
    const verification = createIdentityVerification(db, citizens, {
      async verify(query) {
        expect(query.name).toBe(RINA.name);
        await db.query('update citizens set name = $2 where id = $1', [id, 'Wali Kota Kediri']);
        return 'match';
      },
    }, audit);
    expect(await verification.verifyOnline(id, 'Kediri', '127.0.0.1')).toBe('no_match');
    expect((await assuranceOf(RINA.email)).assurance).toBe('basic');
  });
});

describe('the MPP counter (/loket)', () => {
  test('an officer signs in with Kediri ID, finds a citizen by NIK, and verifies the identity after the KTP-el check', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Cari warga berdasarkan NIK');
    const _csrf = csrfTokenOf(html);

    const found = await agent.post('/loket/cari', { _csrf, nik: BUDI.nik });
    expect(found.status).toBe(200);
    expect(await found.text()).toContain(BUDI.name);
    // As printed on the KTP-el: in groups, with spaces or dots.
    for (const grouped of ['3571 0205 1288 0003', '3571.0205.1288.0003']) {
      const res = await agent.post('/loket/cari', { _csrf, nik: grouped });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(BUDI.name);
    }
    expect((await agent.post('/loket/cari', { _csrf, nik: '3571/0205/1288/0003' })).status).toBe(400);
    const unknown = await agent.post('/loket/cari', { _csrf, nik: '3571010101900009' });
    expect(unknown.status).toBe(404);
    const invalid = await agent.post('/loket/cari', { _csrf, nik: '12345' });
    expect(invalid.status).toBe(400);
    // The counter's messages speak to the officer about the citizen's NIK, not to the citizen.
    const badProvince = await agent.post('/loket/cari', { _csrf, nik: '9971010101900001' });
    expect(badProvince.status).toBe(400);
    const badProvinceHtml = await badProvince.text();
    expect(badProvinceHtml).toContain('Periksa kembali NIK warga pada KTP-el-nya.');
    expect(badProvinceHtml).not.toContain('NIK Anda');

    const unchecked = await agent.post('/loket/verifikasi', { _csrf, nik: BUDI.nik });
    expect(unchecked.status).toBe(400);
    expect((await assuranceOf(BUDI.email)).assurance).toBe('basic');
    // The page the officer checked showed another name (the citizen changed it meanwhile): refused.
    const stale = await agent.post('/loket/verifikasi', { _csrf, nik: BUDI.nik, name: 'Budi S.', ktp_checked: 'ya' });
    expect(stale.status).toBe(409);
    expect(await stale.text()).toContain('Data warga ini berubah sejak halaman dibuka.');
    expect((await assuranceOf(BUDI.email)).assurance).toBe('basic');
    const verified = await agent.post('/loket/verifikasi', { _csrf, nik: BUDI.nik, name: BUDI.name, ktp_checked: 'ya' });
    expect(verified.status).toBe(200);
    expect(await verified.text()).toContain('sudah terverifikasi');
    const officerId = (await server.instance.citizens.findByEmail(OFFICER.email))!.id;
    expect(await assuranceOf(BUDI.email)).toEqual({ assurance: 'verified', verification_method: 'counter', verified_by: officerId });
    const audited = await server.instance.db.query("select actor from audit_events where type = 'identity.verified' and actor = $1", [officerId]);
    expect(audited.rowCount).toBe(1);

    // Now the client that wants a verified identity gets one.
    const request = await authorizationRequest(rp, { acr_values: VERIFIED, prompt: 'consent' });
    const callback = await signIn(new Agent(server.url), request.url, BUDI.email, BUDI.password);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
    expect(tokens.claims()!.acr).toBe(VERIFIED);
  });

  test('an officer cannot vouch for their own account: verifying, a phone and a name are refused, nothing changes', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    const officer = (await server.instance.citizens.findByEmail(OFFICER.email))!;
    const before = await assuranceOf(OFFICER.email);
    const audited = async () => (await server.instance.db.query<{ n: number }>('select count(*)::int as n from audit_events where citizen_id = $1', [officer.id])).rows[0]!.n;
    const entries = await audited();
    for (const [path, form] of [
      ['/loket/verifikasi', { name: officer.name, ktp_checked: 'ya' }],
      ['/loket/telepon', { phone: '081299990001', phone_checked: 'ya' }],
      ['/loket/nama', { name: 'Dewi Petugas Baru', reason: 'Salah ketik' }],
    ] as const) {
      const res = await agent.post(path, { _csrf, nik: OFFICER.nik, ...form });
      expect(res.status).toBe(409);
      expect(await res.text()).toContain('Minta petugas lain melayani Anda.');
    }
    const after = (await server.instance.citizens.findByEmail(OFFICER.email))!;
    expect([after.name, after.phone]).toEqual([officer.name, officer.phone]);
    expect(await assuranceOf(OFFICER.email)).toEqual(before);
    expect(await audited()).toBe(entries);
  });

  test('a password reset ends the staff session too', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    expect(page.status).toBe(200);
    await server.instance.passwordReset.request(OFFICER.email, '127.0.0.1');
    const { link } = await lastEmailTo(server.instance.db, OFFICER.email);
    const newPassword = 'loket-baru-setelah-reset';
    await server.instance.passwordReset.complete(new URL(link!).searchParams.get('token')!, newPassword, '127.0.0.1');
    const after = await agent.request('/loket');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/masuk\?/);
    OFFICER.password = newPassword;
  });

  test('a staff area needs a fresh login: a portal session from /akun is not enough', async () => {
    // The officer signed in at a service earlier; /akun then opens through that session, without a password.
    const agent = new Agent(server.url);
    await signIn(agent, (await authorizationRequest(rp, { prompt: 'consent' })).url, OFFICER.email, OFFICER.password, { totp: officerTotp });
    const start = await agent.request('/akun');
    const { res: account } = await agent.follow(start.headers.get('location')!);
    expect(account!.status).toBe(200);
    const counter = await agent.request('/loket');
    expect(counter.status).toBe(303);
    const { res, url } = await agent.follow(counter.headers.get('location')!);
    // The sign-in asks for the password again even though the browser has a session.
    expect(url).toMatch(/\/interaction\//);
    expect(await res!.text()).toContain('name="password"');
  });

  test('an officer without a second factor is refused at the counter and told to turn it on', async () => {
    const NEW_OFFICER = { nik: '3571024707900004', name: 'Tari Petugas', birthdate: '1990-07-07', email: 'tari@kedirikota.go.id', password: 'loket-mpp-kedua-baru' };
    await createCitizen(server.instance, NEW_OFFICER);
    await server.instance.staff.grant(NEW_OFFICER.email, 'officer', 'test');
    const { page } = await staffAgent(NEW_OFFICER);
    expect(page.status).toBe(403);
    const html = await page.text();
    expect(html).toContain('memerlukan verifikasi dua langkah');
    expect(html).toContain('href="/akun/dua-langkah"');
  });

  test('a citizen without the officer role is refused, and the counter needs a sign-in', async () => {
    expect((await fetch(`${server.url}/loket`, { redirect: 'manual' })).status).toBe(303);
    const { page } = await staffAgent(SITI);
    expect(page.status).toBe(403);
  });
});

describe('the MPP counter corrects a verified name (/loket/nama)', () => {
  /** Verified at registration by the operator, with a typo in the name; an email. */
  const RATNA = { nik: '3571014512920002', name: 'Ratna Sarii', birthdate: '1992-12-05', email: 'ratna@example.id', password: 'klenteng-tjoe-hwie-kiong' };
  /** Verified, phone only (no email): told by a text to the verified number. */
  const JOKO = { nik: '3571021108800001', name: 'Joko Susilo', birthdate: '1980-08-11', phone: '081277770001', password: 'stasiun-kediri-kereta-api' };
  /** Not verified: the citizen edits the name on /akun. */
  const WATI = { nik: '3571034309930002', name: 'Wati Ningsih', birthdate: '1993-09-03', email: 'wati@example.id', password: 'sungai-brantas-mengalir' };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const { citizens, db } = server.instance;
    ids.ratna = (await citizens.create(RATNA, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' })).id;
    ids.joko = (await citizens.create(JOKO, { actor: 'test', identityVerifiedBy: 'operator' })).id;
    await db.transaction((tx) => citizens.setVerifiedPhone(tx, ids.joko!, '+6281277770001'));
    ids.wati = (await citizens.create(WATI, { actor: 'test', emailVerified: true })).id;
  });

  const nameOf = async (id: string) => (await server.instance.citizens.findById(id))!.name;
  const corrections = async (id: string) =>
    (await server.instance.db.query<{ actor: string; details: Record<string, unknown> }>(
      "select actor, details from audit_events where type = 'identity.name_corrected' and citizen_id = $1", [id],
    )).rows;

  test('the officer corrects the name with a reason: saved, audited with the old and new name and the officer, the citizen emailed', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    const found = await (await agent.post('/loket/cari', { _csrf, nik: RATNA.nik })).text();
    expect(found).toContain('action="/loket/nama"');
    expect(found).toContain('value="Ratna Sarii"');
    const mails = await emailsTo(server.instance.db, RATNA.email);

    const corrected = await agent.post('/loket/nama', { _csrf, nik: RATNA.nik, name: '  Ratna   Sari ', reason: 'Salah ketik saat mendaftar' });
    expect(corrected.status).toBe(200);
    const html = await corrected.text();
    expect(html).toContain('Nama warga ini sudah diperbaiki.');
    expect(html).toContain('<dd>Ratna Sari</dd>');
    expect(await nameOf(ids.ratna!)).toBe('Ratna Sari');
    // Still verified: the officer checked the KTP-el.
    expect((await assuranceOf(RATNA.email)).assurance).toBe('verified');
    const officerId = (await server.instance.citizens.findByEmail(OFFICER.email))!.id;
    const audited = await corrections(ids.ratna!);
    expect(audited).toEqual([{ actor: officerId, details: { method: 'counter', before: 'Ratna Sarii', after: 'Ratna Sari', reason: 'Salah ketik saat mendaftar' } }]);
    expect(JSON.stringify(audited)).not.toContain(RATNA.nik);
    expect(await emailsTo(server.instance.db, RATNA.email)).toBe(mails + 1);
    const mail = await lastEmailTo(server.instance.db, RATNA.email);
    expect(mail.subject).toBe('Nama pada akun Kediri ID Anda telah diperbaiki / The name on your Kediri ID account was corrected');
    expect(mail.body).toContain('Halo Ratna Sari,');
    expect(mail.body).toContain('Hello Ratna Sari,');
    expect(mail.body).not.toContain(RATNA.nik);

    // The same name again: refused, nothing more recorded.
    const same = await agent.post('/loket/nama', { _csrf, nik: RATNA.nik, name: 'Ratna Sari', reason: 'Lagi' });
    expect(same.status).toBe(409);
    expect(await same.text()).toContain('Nama ini sudah nama akun warga.');
    expect(await corrections(ids.ratna!)).toHaveLength(1);
  });

  test('a phone-only citizen is told by a text to the verified number', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    const corrected = await agent.post('/loket/nama', { _csrf, nik: JOKO.nik, name: 'Joko Susilo Wibowo', reason: 'Nama pada KTP-el lebih panjang' });
    expect(corrected.status).toBe(200);
    expect(await nameOf(ids.joko!)).toBe('Joko Susilo Wibowo');
    expect(await lastMessageTo(server.instance.db, '+6281277770001')).toMatchObject({
      kind: 'notice',
      body: 'Kediri ID: petugas loket MPP memperbaiki nama pada akun Anda sesuai KTP-el. Jika Anda tidak memintanya, datang ke MPP Kota Kediri dengan membawa KTP.',
    });
  });

  test('bad input is shown on the field, to the officer, and changes nothing', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    const before = await nameOf(ids.ratna!);
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ name: 'Ratna Dewi', reason: '' }, 'reason', 'Tuliskan alasan perbaikan nama'],
      [{ name: 'Ratna Dewi', reason: '   ' }, 'reason', 'Tuliskan alasan perbaikan nama'],
      [{ name: 'Ratna Dewi', reason: `NIK ${RATNA.nik.replace(/(\d{4})/g, '$1 ')}salah` }, 'reason', 'Alasan tidak boleh memuat NIK'],
      [{ name: 'Ratna Dewi', reason: 'x'.repeat(501) }, 'reason', 'Alasan paling banyak 500 karakter.'],
      [{ name: 'R'.repeat(101), reason: 'Salah ketik' }, 'name', 'Nama warga harus 2 sampai 100 huruf'],
      [{ name: 'Ratna 2', reason: 'Salah ketik' }, 'name', 'Nama warga harus 2 sampai 100 huruf'],
      [{ name: '', reason: 'Salah ketik' }, 'name', 'Nama warga harus 2 sampai 100 huruf'],
    ];
    for (const [fields, field, message] of cases) {
      const res = await agent.post('/loket/nama', { _csrf, nik: RATNA.nik, ...fields });
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain(`href="#${field}"`);
      expect(html).toContain(`id="${field}-error"`);
      expect(html).toContain(message);
      // What the officer typed stays in the form.
      expect(html).toContain('action="/loket/nama"');
    }
    // Both wrong: both told at once.
    const both = await (await agent.post('/loket/nama', { _csrf, nik: RATNA.nik, name: 'R', reason: '' })).text();
    expect(both).toContain('href="#name"');
    expect(both).toContain('href="#reason"');
    // Far longer than any field: a clear 400, never a 500.
    expect((await agent.post('/loket/nama', { _csrf, nik: RATNA.nik, name: 'R'.repeat(5000), reason: 'Salah ketik' })).status).toBe(400);
    expect(await nameOf(ids.ratna!)).toBe(before);
    expect(await corrections(ids.ratna!)).toHaveLength(1);
  });

  test('an unverified account is not corrected here (the citizen edits it on /akun), and no form is offered', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    expect(await (await agent.post('/loket/cari', { _csrf, nik: WATI.nik })).text()).not.toContain('action="/loket/nama"');
    const refused = await agent.post('/loket/nama', { _csrf, nik: WATI.nik, name: 'Wati Ningsih Putri', reason: 'Salah ketik' });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('Identitas warga ini belum terverifikasi');
    expect(await nameOf(ids.wati!)).toBe(WATI.name);
  });

  test('a forged or missing CSRF token, a citizen without the officer role, and a signed-out browser change nothing', async () => {
    const { agent } = await staffAgent(OFFICER, officerTotp);
    const form = { nik: RATNA.nik, name: 'Ratna Palsu', reason: 'Dipalsukan' };
    expect((await agent.post('/loket/nama', { _csrf: 'x'.repeat(43), ...form })).status).toBe(403);
    expect((await agent.post('/loket/nama', form)).status).toBe(403);
    expect((await agent.post('/loket/telepon', { _csrf: 'x'.repeat(43), nik: RATNA.nik, phone: '081277770099', phone_checked: 'ya' })).status).toBe(403);

    const { agent: citizen, page } = await staffAgent(SITI);
    expect(page.status).toBe(403);
    const _csrf = csrfTokenOf(await (await citizen.request('/akun')).text());
    expect((await citizen.post('/loket/nama', { _csrf, ...form })).status).toBe(403);
    expect((await new Agent(server.url).post('/loket/nama', form)).status).toBe(303);

    expect(await nameOf(ids.ratna!)).toBe('Ratna Sari');
    expect((await server.instance.citizens.findById(ids.ratna!))!.phone).toBeNull();
    expect(await corrections(ids.ratna!)).toHaveLength(1);
  });
});

describe('the nik scope', () => {
  test('only a client allowed the nik scope receives the NIK, with nik_verified', async () => {
    const allowed = await createWebClient(server.instance, { name: 'Bank Jatim', unit: 'bank-jatim', scope: 'openid nik', allowNik: true });
    const bank = await relyingParty(server.url, allowed.clientId, allowed.clientSecret);
    const request = await authorizationRequest(bank, { scope: 'openid nik', prompt: 'consent' });
    const callback = await signIn(new Agent(server.url), request.url, SITI.email, SITI.password);
    const tokens = await oidc.authorizationCodeGrant(bank, new URL(callback), request.checks);
    const userinfo = await oidc.fetchUserInfo(bank, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo).toMatchObject({ nik: SITI.nik, nik_verified: true });

    // A client whose administrator flag was taken away cannot get the scope any more.
    await server.instance.db.query('update clients set allow_nik = false where client_id = $1', [allowed.clientId]);
    const again = await authorizationRequest(bank, { scope: 'openid nik', prompt: 'consent' });
    const refused = await fetch(again.url, { redirect: 'manual' });
    const location = new URL(refused.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(CALLBACK);
    expect(location.searchParams.get('error')).toBe('invalid_scope');
  });
});

describe('operator CLI for identity', () => {
  const run = (argv: string[], stdin = '') => runOperatorCommand(server.instance, argv, stdin);

  test.each([
    ['nik_format', '35710101019000', '1990-01-01', /exactly 16 digits/],
    ['nik_province', '9971010101900001', '1990-01-01', /province/],
    ['nik_regency', '3599010101900001', '1990-01-01', /regency|kabupaten/i],
    ['nik_district', '3571000101900001', '1990-01-01', /district|kecamatan/i],
    ['nik_date', '3571013201900001', '1990-01-01', /date of birth/i],
    ['nik_serial', '3571010101900000', '1990-01-01', /0000/],
    ['nik_birthdate_mismatch', '3571010101900001', '1990-01-02', /does not match/],
    ['birthdate_invalid', '3571010101900001', '1990-02-30', /date of birth/i],
  ])('citizen create refuses %s with exit 2 and the rule\'s message', async (_rule, nik, birthdate, message) => {
    const result = await run(['citizen', 'create', '--nik', nik, '--name', 'Uji Coba', '--birthdate', birthdate, '--email', 'uji@example.id'], 'kopi-tubruk-pagi-hari');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await server.instance.citizens.findByEmail('uji@example.id')).toBeUndefined();
  });

  test('citizen create --verified, client create --allow-nik, staff grant', async () => {
    const created = await run(['citizen', 'create', '--nik', '3571014508920004', '--name', 'Rina Wati', '--birthdate', '1992-08-05', '--email', 'rina@example.id', '--verified'], 'kopi-tubruk-pagi-hari');
    expect(created.code).toBe(0);
    expect((await assuranceOf('rina@example.id')).assurance).toBe('verified');

    expect((await run(['client', 'create', '--unit', 'bank-jatim', '--name', 'Bank', '--redirect-uri', CALLBACK, '--scope', 'openid nik'])).code).toBe(2);
    expect((await run(['client', 'create', '--unit', 'bank-jatim', '--name', 'Bank', '--redirect-uri', CALLBACK, '--scope', 'openid nik', '--allow-nik'])).code).toBe(0);

    const unknown = await run(['staff', 'grant', '--email', 'nobody@example.id', '--role', 'officer']);
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.stderr).toContain('--email');
    expect((await run(['staff', 'grant', '--email', 'rina@example.id', '--role', 'superuser'])).code).toBe(2);
    expect((await run(['staff', 'grant', '--email', 'rina@example.id', '--role', 'admin'])).code).toBe(0);
    expect(await server.instance.staff.rolesOf((await server.instance.citizens.findByEmail('rina@example.id'))!.id)).toEqual(['admin']);
  });
});

describe('the first administrator (kediri-id admin create)', () => {
  const run = (argv: string[], stdin = '') => runOperatorCommand(server.instance, argv, stdin);
  const roles = async (email: string) => server.instance.staff.rolesOf((await server.instance.citizens.findByEmail(email))!.id);

  test('a new verified account with the admin role, the password from standard input; an existing account only with its own password', async () => {
    const newAdmin = ['admin', 'create', '--email', 'kepala@kedirikota.go.id', '--nik', '3571021203800005', '--name', 'Kepala Diskominfo', '--birthdate', '1980-03-12'];
    expect(await run(newAdmin)).toMatchObject({ code: 2, stderr: expect.stringContaining('standard input') });
    const created = await run(newAdmin, 'rapat-pagi-di-balai-kota\n');
    expect(created.code).toBe(0);
    expect(await roles('kepala@kedirikota.go.id')).toEqual(['admin']);
    expect((await assuranceOf('kepala@kedirikota.go.id')).assurance).toBe('verified');
    expect(await server.instance.citizens.authenticate('kepala@kedirikota.go.id', 'rapat-pagi-di-balai-kota')).toBeTruthy();

    // An existing account: the operator must know its password; nothing is created without the NIK.
    const wrong = await run(['admin', 'create', '--email', BUDI.email], 'bukan-kata-sandinya');
    expect(wrong).toMatchObject({ code: 2, stdout: '' });
    expect(await roles(BUDI.email)).not.toContain('admin');
    expect((await run(['admin', 'create', '--email', 'belum-ada@example.id'], 'kata-sandi-panjang-sekali')).stderr).toContain('--nik');
    expect(await server.instance.citizens.findByEmail('belum-ada@example.id')).toBeUndefined();
    expect((await run(['admin', 'create', '--email', BUDI.email], BUDI.password)).code).toBe(0);
    expect(await roles(BUDI.email)).toContain('admin');
  });
});
