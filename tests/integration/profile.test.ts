import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { emailedTokensAge, emailsTo, lastEmailTo } from '../support/mail.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const RINA = { nik: '3571015703920002', name: 'Rina Wulandari', birthdate: '1992-03-17', email: 'rina@example.id', password: 'gunung-klotok-di-pagi-hari' };
const EKO = { nik: '3571022208850004', name: 'Eko Prasetyo', birthdate: '1985-08-22', email: 'eko@example.id', password: 'tahu-takwa-dan-getuk-pisang' };

const ADDRESS = {
  street: 'Jl. Dhoho No. 17',
  rt: '1',
  rw: '02',
  kelurahan: 'Setonopande',
  kecamatan: 'Kota',
  city: 'Kota Kediri',
  province: 'Jawa Timur',
  postal_code: '64121',
};
const NO_ADDRESS = Object.fromEntries(Object.keys(ADDRESS).map((k) => [k, ''])) as Record<keyof typeof ADDRESS, string>;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, BUDI);
  await createCitizen(server.instance, EKO);
  // Verified at creation, as the operator CLI's --verified does.
  await server.instance.citizens.create(RINA, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' });
});
afterAll(() => server.close());

const citizen = async (email: string) => (await server.instance.citizens.findByEmail(email))!;

/** Signs in through Kediri ID and opens an account page; returns the browser and the page. */
async function open(who: { email: string; password: string }, path = '/akun/profil') {
  const agent = new Agent(server.url);
  const start = await agent.request(path);
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password);
  const { res } = await agent.follow(landed);
  expect(res!.status).toBe(200);
  return { agent, html: await res!.text() };
}

/** Posts the profile form as the page would: its current values, changed by `fields`. */
async function saveProfile(agent: Agent, fields: Record<string, string>) {
  const html = await (await agent.request('/akun/profil')).text();
  const current = Object.fromEntries([...html.matchAll(/<input class="[^"]*" id="\w+" name="(\w+)" type="\w+" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  return agent.post('/akun/profil', { _csrf: csrfTokenOf(html), ...current, ...fields });
}

const auditOf = async (type: string, email: string) =>
  (await server.instance.db.query<{ details: Record<string, unknown> }>(
    'select details from audit_events where type = $1 and citizen_id = $2 order by id',
    [type, (await citizen(email)).id],
  )).rows.map((r) => r.details);

describe('the profile page (/akun/profil)', () => {
  test('is reached from the account page and shows the NIK masked', async () => {
    const { agent } = await open(SITI);
    expect(await (await agent.request('/akun')).text()).toContain('href="/akun/profil"');
    const html = await (await agent.request('/akun/profil')).text();
    expect(html).toContain('3571 **** **** 0001');
    expect(html).not.toContain(SITI.nik);
    expect(html).toContain('name="name"');
  });

  test('a citizen with a basic identity changes their name; the audit names the field, not the value', async () => {
    const { agent } = await open(SITI);
    const before = (await citizen(SITI.email)).updated_at;
    const saved = await saveProfile(agent, { name: '  Siti   Aminah Rahayu ' });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe('/akun/profil?tersimpan=1');
    const after = await citizen(SITI.email);
    expect(after.name).toBe('Siti Aminah Rahayu');
    expect(after.updated_at.getTime()).toBeGreaterThan(before.getTime());
    const audits = await auditOf('profile.changed', SITI.email);
    expect(audits.at(-1)).toEqual({ fields: ['name'] });
    expect(JSON.stringify(audits)).not.toContain('Rahayu');
    expect(await (await agent.request('/akun/profil?tersimpan=1')).text()).toContain('Profil sudah disimpan');
  });

  test('once the identity is verified the name is locked: shown as text, and a posted name is refused', async () => {
    const { agent, html } = await open(RINA);
    expect(html).not.toContain('name="name"');
    expect(html).toContain(RINA.name);
    expect(html).toContain('loket MPP');
    const refused = await agent.post('/akun/profil', { _csrf: csrfTokenOf(html), name: 'Nama Lain', ...NO_ADDRESS });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('error-summary');
    expect((await citizen(RINA.email)).name).toBe(RINA.name);
    // The form without a name field still saves the rest.
    expect((await saveProfile(agent, { ...ADDRESS, city: 'Kota Kediri Baru' })).status).toBe(303);
    expect(await citizen(RINA.email)).toMatchObject({ name: RINA.name, address: { region: 'Kota Kediri Baru, Jawa Timur' } });
  });

  test('the address is stored as the OIDC address claim and reaches a client with the address scope', async () => {
    const { agent } = await open(BUDI);
    expect((await saveProfile(agent, ADDRESS)).status).toBe(303);
    const expected = {
      street_address: 'Jl. Dhoho No. 17, RT 001/RW 002, Setonopande',
      locality: 'Kota',
      region: 'Kota Kediri, Jawa Timur',
      postal_code: '64121',
      country: 'ID',
    };
    expect((await citizen(BUDI.email)).address).toEqual(expected);
    expect(await auditOf('profile.changed', BUDI.email)).toEqual([{ fields: ['address'] }]);

    // The form is filled again from the stored claim.
    const html = await (await agent.request('/akun/profil')).text();
    for (const [name, value] of Object.entries({ ...ADDRESS, rt: '001', rw: '002' })) expect(html).toContain(`name="${name}" type="text" value="${value}"`);

    // Saving the same values again changes nothing.
    expect((await saveProfile(agent, {})).status).toBe(303);
    expect(await auditOf('profile.changed', BUDI.email)).toHaveLength(1);

    const { clientId, clientSecret } = await createWebClient(server.instance, { scope: 'openid profile email phone address' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const tokens = await signInAndExchange(rp, BUDI.email, BUDI.password, { scope: 'openid address phone' });
    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo.address).toEqual(expected);
    expect(userinfo.phone_number).toBeUndefined();
  });

  test('the profile form does not take a phone number: it has its own page, where a code proves it', async () => {
    const { agent, html } = await open(EKO);
    expect(html).not.toContain('name="phone"');
    expect(html).toContain('href="/akun/telepon"');
    // A phone posted with the profile form anyway changes nothing.
    expect((await saveProfile(agent, { ...ADDRESS, phone: '081255556666' })).status).toBe(303);
    expect(await citizen(EKO.email)).toMatchObject({ phone: null, phone_verified: false });
    expect((await auditOf('profile.changed', EKO.email)).at(-1)).toEqual({ fields: ['address'] });
  });

  test.each([
    ['a bad postal code', { ...ADDRESS, postal_code: '6412' }, 'postal_code', 'kode pos 5 angka'],
    ['a street that is too long', { ...ADDRESS, street: 'Jl. '.padEnd(300, 'x') }, 'street', '3 sampai 120 karakter'],
    ['an incomplete address', { ...NO_ADDRESS, street: 'Jl. Dhoho No. 17' }, 'kelurahan', 'kelurahan atau desa'],
    ['a comma in a place name', { ...ADDRESS, kecamatan: 'Kota, Kediri' }, 'kecamatan', 'tanpa koma'],
    ['a bad RT', { ...ADDRESS, rt: '1a' }, 'rt', 'nomor RT'],
    ['a name that is too long', { name: 'Siti '.repeat(30) }, 'name', '2 sampai 100 huruf'],
  ])('%s: 400 with the error summary, and nothing changes', async (_case, fields, field, message) => {
    const { agent } = await open(SITI);
    const before = await citizen(SITI.email);
    const res = await saveProfile(agent, fields);
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('class="error-summary"');
    expect(html).toContain(`href="#${field}"`);
    expect(html).toContain(message);
    expect(await citizen(SITI.email)).toEqual(before);
  });

  test('an over-long street gets its own message, with the other values kept; only a body past the limit is refused whole', async () => {
    const { agent } = await open(SITI);
    const before = await citizen(SITI.email);
    const res = await saveProfile(agent, { ...ADDRESS, street: 'Jl. Dhoho '.repeat(60) });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('Masukkan nama jalan dan nomor rumah, 3 sampai 120 karakter.');
    expect(html).toContain('value="Setonopande"');
    expect(html).toContain('value="64121"');
    expect((await saveProfile(agent, { ...ADDRESS, street: 'x'.repeat(20_000) })).status).toBe(413);
    expect(await citizen(SITI.email)).toEqual(before);
  });

  test('a forged or missing CSRF token is refused', async () => {
    const { agent } = await open(SITI);
    const before = await citizen(SITI.email);
    expect((await agent.post('/akun/profil', { name: 'Orang Lain' })).status).toBe(403);
    expect((await agent.post('/akun/profil', { _csrf: 'x'.repeat(43), name: 'Orang Lain' })).status).toBe(403);
    expect((await agent.post('/akun/email', { _csrf: 'forged', email: 'lain@example.id', password: SITI.password })).status).toBe(403);
    expect(await citizen(SITI.email)).toEqual(before);
  });

  test('needs a sign-in', async () => {
    const res = await new Agent(server.url).request('/akun/profil');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/masuk\?lanjut=/);
  });
});

describe('changing the email (/akun/email)', () => {
  async function requestChange(agent: Agent, email: string, password: string) {
    const form = await (await agent.request('/akun/email')).text();
    return agent.post('/akun/email', { _csrf: csrfTokenOf(form), email, password });
  }

  /** Posts a code as the code form would (the form's token is this browser's, on any of its pages). */
  async function enterCode(agent: Agent, code: string) {
    const page = await (await agent.request('/akun/profil')).text();
    return agent.post('/akun/email/verifikasi', { _csrf: csrfTokenOf(page), code });
  }

  test('needs the current password and a new, valid address', async () => {
    const { agent } = await open(EKO);
    const sent = await emailsTo(server.instance.db, 'eko.baru@example.id');
    const wrong = await requestChange(agent, 'eko.baru@example.id', 'bukan-ini');
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('Kata sandi saat ini salah');
    for (const email of ['bukan-email', EKO.email.toUpperCase(), 'x'.repeat(250) + '@example.id']) {
      const res = await requestChange(agent, email, EKO.password);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('href="#email"');
    }
    expect(await emailsTo(server.instance.db, 'eko.baru@example.id')).toBe(sent);
  });

  test('the new email takes effect only with the code sent to it; the code works once', async () => {
    const { agent } = await open(EKO);
    const requested = await requestChange(agent, 'Eko.Baru@Example.id', EKO.password);
    expect(requested.status).toBe(303);
    expect(requested.headers.get('location')).toBe('/akun/email/verifikasi');
    const page = await (await agent.request('/akun/email/verifikasi')).text();
    expect(page).toContain('Kami telah mengirim kode dan tautan ke eko.baru@example.id');

    const mail = await lastEmailTo(server.instance.db, 'eko.baru@example.id');
    expect(mail.code).toMatch(/^\d{6}$/);
    expect(mail.link).toContain('/akun/email/konfirmasi?token=');
    expect(mail.link).not.toContain('example.id');

    // Until the code is entered the old email still signs in, and the new one does not.
    expect(await server.instance.citizens.authenticate(EKO.email, EKO.password)).toBeDefined();
    expect(await server.instance.citizens.authenticate('eko.baru@example.id', EKO.password)).toBeUndefined();

    const wrongCode = mail.code === '000000' ? '111111' : '000000';
    const wrong = await enterCode(agent, wrongCode);
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('Kode salah atau sudah tidak berlaku');
    expect((await citizen(EKO.email)).email).toBe(EKO.email);

    const right = await enterCode(agent, mail.code!);
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/akun/profil?email=1');
    const changed = (await server.instance.citizens.findByEmail('eko.baru@example.id'))!;
    expect(changed).toMatchObject({ name: EKO.name, email_verified: true });
    expect(await server.instance.citizens.findByEmail(EKO.email)).toBeUndefined();
    expect(await server.instance.citizens.authenticate('eko.baru@example.id', EKO.password)).toBeDefined();
    expect((await lastEmailTo(server.instance.db, EKO.email)).subject).toContain('Email akun Kediri ID Anda telah diubah');
    expect(await auditOf('email.changed', 'eko.baru@example.id')).toHaveLength(1);

    // Single use: the same code again, and the link of the same email, do nothing.
    expect(await (await agent.request('/akun/email/verifikasi')).text()).toContain('Tidak ada email baru yang menunggu konfirmasi');
    expect((await enterCode(agent, mail.code!)).status).toBe(400);
    const browser = new Agent(server.url);
    const linkPage = await (await browser.request(mail.link!)).text();
    expect((await browser.post('/akun/email/konfirmasi', { _csrf: csrfTokenOf(linkPage), token: new URL(mail.link!).searchParams.get('token')! })).status).toBe(400);
    EKO.email = 'eko.baru@example.id';
  });

  test('the emailed link completes the change, in any browser, once', async () => {
    const { agent } = await open(RINA);
    expect((await requestChange(agent, 'rina.baru@example.id', RINA.password)).status).toBe(303);
    const mail = await lastEmailTo(server.instance.db, 'rina.baru@example.id');

    // Opening the link shows a button: a mail scanner that fetches it changes nothing.
    const browser = new Agent(server.url);
    const page = await browser.request(mail.link!);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect((await citizen(RINA.email)).email).toBe(RINA.email);
    const token = new URL(mail.link!).searchParams.get('token')!;
    const confirmed = await browser.post('/akun/email/konfirmasi', { _csrf: csrfTokenOf(html), token });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('Email Anda sudah diganti');
    expect(await server.instance.citizens.findByEmail('rina.baru@example.id')).toMatchObject({ name: RINA.name, email_verified: true });
    expect((await browser.post('/akun/email/konfirmasi', { _csrf: csrfTokenOf(html), token })).status).toBe(400);
    expect((await browser.post('/akun/email/konfirmasi', { _csrf: csrfTokenOf(html), token: 'x'.repeat(500) })).status).toBe(400);
    RINA.email = 'rina.baru@example.id';
  });

  test('an address that belongs to another account: the same page, a notice to its holder, and no change', async () => {
    const { agent } = await open(BUDI);
    const requested = await requestChange(agent, SITI.email, BUDI.password);
    expect(requested.status).toBe(303);
    expect(requested.headers.get('location')).toBe('/akun/email/verifikasi');
    const page = await (await agent.request('/akun/email/verifikasi')).text();
    expect(page).toContain(`Kami telah mengirim kode dan tautan ke ${SITI.email}`);

    const notice = await lastEmailTo(server.instance.db, SITI.email);
    expect(notice.subject).toContain('Percobaan memakai email Anda');
    expect(notice.code).toBeUndefined();
    expect(notice.link).toBeUndefined();
    expect(notice.body).not.toContain(BUDI.name);

    expect((await enterCode(agent, '123456')).status).toBe(400);
    expect((await citizen(BUDI.email)).email).toBe(BUDI.email);
    expect((await citizen(SITI.email)).name).not.toBe(BUDI.name);
  });

  test('a pending email change ends when the password changes: neither its code nor its link works after', async () => {
    const { agent } = await open(EKO);
    await emailedTokensAge(server.instance.db, EKO.email, 60);
    expect((await requestChange(agent, 'eko.penyusup@example.id', EKO.password)).status).toBe(303);
    const { code, link } = await lastEmailTo(server.instance.db, 'eko.penyusup@example.id');
    // The citizen notices and changes the password (which ends every session, the intruder's too).
    await server.instance.account.changePassword((await citizen(EKO.email)).id, EKO.password, 'tahu-takwa-dan-getuk-pisang-baru', '127.0.0.1');
    EKO.password = 'tahu-takwa-dan-getuk-pisang-baru';
    const browser = new Agent(server.url);
    const page = await browser.request(link!);
    const token = new URL(link!).searchParams.get('token')!;
    expect((await browser.post('/akun/email/konfirmasi', { _csrf: csrfTokenOf(await page.text()), token })).status).toBe(400);
    const again = await open(EKO);
    expect((await enterCode(again.agent, code!)).status).toBe(400);
    expect(await server.instance.citizens.findByEmail('eko.penyusup@example.id')).toBeUndefined();
  });

  test('wrong codes are limited: after five, even the right code is refused', async () => {
    const { agent } = await open(BUDI);
    await emailedTokensAge(server.instance.db, BUDI.email, 60);
    expect((await requestChange(agent, 'budi.baru@example.id', BUDI.password)).status).toBe(303);
    const { code } = await lastEmailTo(server.instance.db, 'budi.baru@example.id');
    const wrongCode = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) expect((await enterCode(agent, wrongCode)).status).toBe(400);
    expect((await enterCode(agent, code!)).status).toBe(400);
    expect((await citizen(BUDI.email)).email).toBe(BUDI.email);

    // A new request at once is refused and sends nothing (one email change email a minute)...
    const mails = await emailsTo(server.instance.db, 'budi.baru@example.id');
    const tooSoon = await requestChange(agent, 'budi.baru@example.id', BUDI.password);
    expect(tooSoon.status).toBe(429);
    expect(await tooSoon.text()).toContain('Anda baru saja meminta kode untuk mengganti email.');
    expect(await emailsTo(server.instance.db, 'budi.baru@example.id')).toBe(mails);
    // ... a minute later it sends a new code, which works.
    await emailedTokensAge(server.instance.db, BUDI.email, 60);
    expect((await requestChange(agent, 'budi.baru@example.id', BUDI.password)).status).toBe(303);
    const again = await lastEmailTo(server.instance.db, 'budi.baru@example.id');
    expect(again.code).not.toBeUndefined();
    expect((await enterCode(agent, again.code!)).status).toBe(303);
    expect((await citizen('budi.baru@example.id')).name).toBe(BUDI.name);
    BUDI.email = 'budi.baru@example.id';
  });
});
