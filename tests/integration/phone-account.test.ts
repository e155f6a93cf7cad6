import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { NOTICES_PER_DAY } from '../../src/identity/citizen-notices.js';
import type { NewCitizen } from '../../src/identity/citizens.js';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { createWebClient, grantStaff } from '../support/fixtures.js';
import { emailsTo, lastEmailTo } from '../support/mail.js';
import { lastCodeTo } from '../support/messages.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * The phone number on /akun (a code to the new number proves it), at the MPP counter (the officer
 * checks it in person), in the phone scope's claims, and the security notices of an account
 * without an email. Codes are read from the message outbox, where they wait for a gateway.
 */

type Person = NewCitizen & { login: string };
const person = (p: NewCitizen): Person => ({ ...p, login: p.email || p.phone! });

const SITI = person({ nik: '3571014101900001', name: 'Siti Aminah', birthdate: '1990-01-01', email: 'siti@example.id', phone: '081211110001', password: 'kembang-api-di-alun-alun' });
const BUDI = person({ nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', phone: '081211110002', password: 'sepeda-biru-di-jalan-dhoho' });
/** Phone only: no email. */
const ANI = person({ nik: '3571016506950003', name: 'Ani Lestari', birthdate: '1995-06-25', phone: '081211110003', password: 'pecel-tumpang-pasar-setono' });
const TONO = person({ nik: '3571030303770007', name: 'Tono Wijaya', birthdate: '1977-03-03', email: 'tono@example.id', phone: '081211110004', password: 'gumul-dan-simpang-lima-gumul' });
/** Registered with a phone he has not verified yet. */
const EKO = person({ nik: '3571022208850004', name: 'Eko Prasetyo', birthdate: '1985-08-22', email: 'eko@example.id', phone: '081211110005', password: 'tahu-takwa-dan-getuk-pisang' });
/** An email, no phone: the counter adds one. */
const DEWI = person({ nik: '3571034404880005', name: 'Dewi Kartika', birthdate: '1988-04-04', email: 'dewi@example.id', password: 'gua-selomangleng-di-barat' });
/** Neither email nor smartphone skills: registered at home with a number never verified; the counter checks it. */
const SRI = person({ nik: '3571025012600006', name: 'Sri Rahayu', birthdate: '1960-12-10', phone: '081211110006', password: 'jembatan-brawijaya-lama' });
const OFFICER = person({ nik: '3571035506850002', name: 'Dewi Petugas', birthdate: '1985-06-15', email: 'petugas@kedirikota.go.id', password: 'loket-mpp-dhoho-plaza' });

/** The E.164 form of a number as the tests write it (0812...). */
const e164 = (phone: string) => `+62${phone.slice(1)}`;

let server: TestServer;
let officerTotp: string;
beforeAll(async () => {
  server = await startTestServer();
  const { citizens, db } = server.instance;
  for (const p of [SITI, BUDI, ANI, TONO, EKO, DEWI, SRI, OFFICER]) {
    const created = await citizens.create(p, { actor: 'test', emailVerified: p.email !== undefined });
    // Verified by a code at registration (SITI, BUDI, ANI, TONO); EKO and SRI never entered theirs.
    if ([SITI, BUDI, ANI, TONO].includes(p)) await db.transaction((tx) => citizens.setVerifiedPhone(tx, created.id, e164(p.phone!)));
  }
  officerTotp = (await grantStaff(server.instance, OFFICER.email!, 'officer')).totp;
});
afterAll(() => server.close());

const byNik = async (p: Person) => (await server.instance.citizens.counterView(p.nik))!;
const citizenOf = async (p: Person) => (await server.instance.citizens.findById((await byNik(p)).id))!;

const messagesTo = async (phone: string) =>
  (await server.instance.db.query<{ kind: string; channel: string; body: string; code: string | null }>(
    'select kind, channel, body, code from message_outbox where to_phone = $1 order by id',
    [phone],
  )).rows;

const auditOf = async (type: string, citizenId: string) =>
  (await server.instance.db.query<{ actor: string | null; details: Record<string, unknown> | null }>(
    'select actor, details from audit_events where type = $1 and citizen_id = $2 order by id',
    [type, citizenId],
  )).rows;

/** Signs in through Kediri ID (by email, or by the verified phone) and opens an account page. */
async function open(who: Person, path = '/akun/telepon') {
  const agent = new Agent(server.url);
  const start = await agent.request(path);
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.login, who.password);
  const { res } = await agent.follow(landed);
  expect(res!.status).toBe(200);
  return { agent, html: await res!.text() };
}

async function requestChange(agent: Agent, phone: string, password: string, channel = 'whatsapp') {
  const form = await (await agent.request('/akun/telepon')).text();
  return agent.post('/akun/telepon', { _csrf: csrfTokenOf(form), phone, channel, password });
}

/** Posts a code as the code form would (the form's token is this browser's, on any of its pages). */
async function enterCode(agent: Agent, code: string) {
  const page = await (await agent.request('/akun/profil')).text();
  return agent.post('/akun/telepon/verifikasi', { _csrf: csrfTokenOf(page), code });
}

const otherThan = (code: string) => (code === '000000' ? '111111' : '000000');

describe('changing the phone on /akun (/akun/telepon)', () => {
  test('is linked from the account page and the profile page, and needs a sign-in', async () => {
    expect((await new Agent(server.url).request('/akun/telepon')).headers.get('location')).toMatch(/^\/masuk\?/);
    const { agent, html } = await open(SITI);
    expect(html).toContain('Ubah nomor HP');
    expect(html).toContain('+6281211110001');
    for (const page of ['/akun', '/akun/profil']) expect(await (await agent.request(page)).text()).toContain('href="/akun/telepon"');
  });

  test('the right code sets the new number, verified; the old number and the email are told; audited; the code works once', async () => {
    const { agent } = await open(SITI);
    const before = await citizenOf(SITI);
    const NEW = '+6281233330001';
    // A sign-in code to the old number, asked for just before (by whoever holds that phone now).
    const oldCode = await server.instance.phoneCodes.send({ phone: before.phone!, citizenId: before.id, purpose: 'sign_in', channel: 'sms', lang: 'id', ip: '127.0.0.2' });
    expect(oldCode.outcome).toBe('sent');
    const oldCodeText = await lastCodeTo(server.instance.db, before.phone!);
    const requested = await requestChange(agent, '0812-3333-0001', SITI.password, 'sms');
    expect(requested.status).toBe(303);
    expect(requested.headers.get('location')).toBe('/akun/telepon/verifikasi?dikirim=1');
    const page = await (await agent.request('/akun/telepon/verifikasi?dikirim=1')).text();
    expect(page).toContain('Kami telah mengirim kode lewat SMS ke +62812*****001');
    expect(page).not.toContain(NEW);

    const [message] = await messagesTo(NEW);
    expect(message).toMatchObject({ kind: 'code', channel: 'sms' });
    const code = await lastCodeTo(server.instance.db, NEW);
    // Until the code is entered, nothing changed: the old number still signs in.
    expect(await citizenOf(SITI)).toMatchObject({ phone: before.phone, phone_verified: true });

    const right = await enterCode(agent, code);
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/akun/profil?telepon=1');
    expect(await (await agent.request('/akun/profil?telepon=1')).text()).toContain('Nomor HP sudah diganti dan terverifikasi');
    expect(await citizenOf(SITI)).toMatchObject({ id: before.id, phone: NEW, phone_verified: true });
    expect(await server.instance.citizens.authenticate('0812 3333 0001', SITI.password)).toMatchObject({ id: before.id });
    expect(await server.instance.citizens.authenticate(SITI.phone!, SITI.password)).toBeUndefined();

    // The old number got a notice (no code), the email an email; one audit entry, the number masked.
    const old = await messagesTo(e164(SITI.phone!));
    expect(old.at(-1)).toMatchObject({ kind: 'notice', channel: 'whatsapp', code: null });
    expect(old.at(-1)!.body).toContain('Kediri ID');
    expect((await lastEmailTo(server.instance.db, SITI.email!)).subject).toContain('Nomor HP akun Kediri ID Anda telah diubah');
    expect(await auditOf('phone.changed', before.id)).toEqual([{ actor: null, details: { phone: '+62812*****001', channel: 'sms' } }]);

    // The old number's sign-in code no longer opens the account.
    expect(await server.instance.phoneCodes.check(oldCode.outcome === 'sent' ? oldCode.codeId : '', oldCodeText, 'sign_in')).toBeUndefined();

    // Replayed: the form has no change waiting any more, and the code itself is spent.
    const replayed = await enterCode(agent, code);
    expect(replayed.status).toBe(400);
    expect(await replayed.text()).toContain('Kode salah atau sudah tidak berlaku');
    const { rows } = await server.instance.db.query<{ id: string }>('select id from phone_codes where phone = $1', [NEW]);
    expect(await server.instance.profile.confirmPhoneChange(before.id, rows[0]!.id, code, { ip: '127.0.0.1', lang: 'id' })).toBe(false);
    expect(await auditOf('phone.changed', before.id)).toHaveLength(1);
    SITI.phone = '081233330001';
    SITI.login = SITI.email!;
  });

  test('wrong codes are limited: after five, even the right code is refused, and nothing changes', async () => {
    const { agent } = await open(TONO);
    const NEW = '+6281233330002';
    expect((await requestChange(agent, '081233330002', TONO.password)).status).toBe(303);
    const code = await lastCodeTo(server.instance.db, NEW);
    for (let i = 0; i < 5; i++) {
      const wrong = await enterCode(agent, otherThan(code));
      expect(wrong.status).toBe(400);
      expect(await wrong.text()).toContain('href="#code"');
    }
    expect((await enterCode(agent, code)).status).toBe(400);
    expect(await citizenOf(TONO)).toMatchObject({ phone: e164(TONO.phone!), phone_verified: true });
    expect(await server.instance.citizens.findByVerifiedPhone(NEW)).toBeUndefined();
  });

  test("another account's verified number: the same answer until the code is entered, then refused, and nothing changes", async () => {
    const budi = await citizenOf(BUDI);
    const { agent } = await open(SITI);
    const siti = await citizenOf(SITI);
    const taken = await requestChange(agent, BUDI.phone!, SITI.password);
    // As for a free number: a code is sent, to the number (only its holder can read it).
    expect(taken.status).toBe(303);
    expect(taken.headers.get('location')).toBe('/akun/telepon/verifikasi?dikirim=1');
    expect(await (await agent.request('/akun/telepon/verifikasi?dikirim=1')).text()).toContain('ke +62812*****002');
    const code = await lastCodeTo(server.instance.db, e164(BUDI.phone!));

    const refused = await enterCode(agent, code);
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('Nomor HP ini sudah terhubung dengan akun Kediri ID lain');
    expect(await citizenOf(SITI)).toEqual(siti);
    expect(await server.instance.citizens.findByVerifiedPhone(e164(BUDI.phone!))).toEqual(budi);
    expect(await auditOf('phone.changed', siti.id)).toHaveLength(1);
  });

  test.each([
    ['too short', '12345'],
    ['not a mobile number', '0354 123456'],
    ['a foreign number (none configured)', '+1 202 555 0100'],
  ])('a bad number (%s): 400 with the message beside the field, no code, nothing changes', async (_case, phone) => {
    const { agent } = await open(TONO);
    const before = await citizenOf(TONO);
    const sent = (await server.instance.db.query<{ n: number }>('select count(*)::int as n from message_outbox')).rows[0]!.n;
    const res = await requestChange(agent, phone, TONO.password);
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('href="#phone"');
    expect(html).toContain('id="phone-error"');
    expect(html).toContain('Masukkan nomor HP Indonesia yang benar');
    expect(await citizenOf(TONO)).toEqual(before);
    expect((await server.instance.db.query<{ n: number }>('select count(*)::int as n from message_outbox')).rows[0]!.n).toBe(sent);
  });

  test('needs the password; the current verified number is not a change', async () => {
    const { agent } = await open(TONO);
    const wrong = await requestChange(agent, '081233330003', 'bukan-kata-sandinya');
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('Kata sandi saat ini salah');
    const same = await requestChange(agent, TONO.phone!, TONO.password);
    expect(same.status).toBe(400);
    expect(await same.text()).toContain('sudah menjadi nomor HP terverifikasi akun ini');
    expect(await messagesTo('+6281233330003')).toEqual([]);
  });

  test('removing the phone: allowed while a verified email remains (which is told, as the old number is)', async () => {
    const { agent, html } = await open(TONO);
    const tono = await citizenOf(TONO);
    expect(html).toContain('action="/akun/telepon/hapus"');
    const wrong = await agent.post('/akun/telepon/hapus', { _csrf: csrfTokenOf(html), password: 'bukan-kata-sandinya' });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('href="#remove_password"');
    expect((await citizenOf(TONO)).phone).toBe(e164(TONO.phone!));

    const removed = await agent.post('/akun/telepon/hapus', { _csrf: csrfTokenOf(html), password: TONO.password });
    expect(removed.status).toBe(303);
    expect(removed.headers.get('location')).toBe('/akun/profil?telepon_dihapus=1');
    expect(await server.instance.citizens.findById(tono.id)).toMatchObject({ phone: null, phone_verified: false, email_verified: true });
    expect((await messagesTo(e164(TONO.phone!))).at(-1)).toMatchObject({ kind: 'notice' });
    expect((await lastEmailTo(server.instance.db, TONO.email!)).subject).toContain('Nomor HP akun Kediri ID Anda telah diubah');
    expect(await auditOf('phone.changed', tono.id)).toEqual([{ actor: null, details: { removed: true } }]);
  });

  test('removing the phone is refused when it is the last verified contact', async () => {
    const { agent, html } = await open(ANI);
    expect(html).not.toContain('action="/akun/telepon/hapus"');
    expect(html).toContain('tidak dapat dihapus');
    const refused = await agent.post('/akun/telepon/hapus', { _csrf: csrfTokenOf(html), password: ANI.password });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('akun harus tetap memiliki email atau nomor HP yang terverifikasi');
    expect(await citizenOf(ANI)).toMatchObject({ phone: e164(ANI.phone!), phone_verified: true, email: null });
  });

  test('a forged or missing CSRF token is refused, and a signed-out browser is sent to sign in', async () => {
    const { agent } = await open(TONO);
    expect((await agent.post('/akun/telepon', { phone: '081233330009', password: TONO.password })).status).toBe(403);
    expect((await agent.post('/akun/telepon/verifikasi', { _csrf: 'x'.repeat(43), code: '123456' })).status).toBe(403);
    const stranger = await new Agent(server.url).post('/akun/telepon/hapus', { password: 'x' });
    expect(stranger.status).toBe(303);
    expect(await messagesTo('+6281233330009')).toEqual([]);
  });
});

/** A staff member signs in to /loket through Kediri ID (the first-party staff client). */
async function staffAgent(who: Person, totp?: string): Promise<{ agent: Agent; page: Response }> {
  const agent = new Agent(server.url);
  const start = await agent.request('/loket');
  expect(start.status).toBe(303);
  const landed = await signIn(agent, start.headers.get('location')!, who.login, who.password, { totp });
  const { res } = await agent.follow(landed);
  return { agent, page: res! };
}

describe('the MPP counter records a verified phone (/loket/telepon)', () => {
  test('shows the phone and whether it is verified; records a checked number as verified, audited with the officer; the citizen is told', async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    const found = await (await agent.post('/loket/cari', { _csrf, nik: SRI.nik })).text();
    expect(found).toContain('+6281211110006 · belum terverifikasi');
    expect(found).toContain('action="/loket/telepon"');

    // A number that is not one, or without the officer's check: refused, nothing changes.
    const bad = await agent.post('/loket/telepon', { _csrf, nik: SRI.nik, phone: '12345', phone_checked: 'ya' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Masukkan nomor HP warga yang benar');
    const unchecked = await agent.post('/loket/telepon', { _csrf, nik: SRI.nik, phone: SRI.phone! });
    expect(unchecked.status).toBe(400);
    expect(await unchecked.text()).toContain('href="#phone_checked"');
    expect((await byNik(SRI)).phone_verified).toBe(false);

    // Sri has no email: she is told on the number itself.
    const recorded = await agent.post('/loket/telepon', { _csrf, nik: SRI.nik, phone: '0812 1111 0006', phone_checked: 'ya' });
    expect(recorded.status).toBe(200);
    const html = await recorded.text();
    expect(html).toContain('sudah tercatat dan terverifikasi');
    expect(html).toContain('+6281211110006 · terverifikasi');
    const sri = await byNik(SRI);
    expect(sri).toMatchObject({ phone: '+6281211110006', phone_verified: true });
    const officerId = (await server.instance.citizens.findByEmail(OFFICER.email!))!.id;
    expect(await auditOf('phone.verified', sri.id)).toEqual([{ actor: officerId, details: { method: 'counter' } }]);
    expect((await messagesTo('+6281211110006')).map((m) => m.kind)).toEqual(['notice']);
    // Now she signs in with her number.
    expect(await server.instance.citizens.authenticate('081211110006', SRI.password)).toMatchObject({ id: sri.id });

    // Dewi has an email: she is told by email, and her new number gets no message.
    const dewiMails = await emailsTo(server.instance.db, DEWI.email!);
    expect((await agent.post('/loket/telepon', { _csrf, nik: DEWI.nik, phone: '+62 812 1111 0007', phone_checked: 'ya' })).status).toBe(200);
    expect(await byNik(DEWI)).toMatchObject({ phone: '+6281211110007', phone_verified: true });
    expect(await emailsTo(server.instance.db, DEWI.email!)).toBe(dewiMails + 1);
    expect((await lastEmailTo(server.instance.db, DEWI.email!)).subject).toContain('Nomor HP akun Kediri ID Anda telah diubah');
    expect(await messagesTo('+6281211110007')).toEqual([]);
  });

  test("refuses another account's verified number, clearly, and nothing changes", async () => {
    const { agent, page } = await staffAgent(OFFICER, officerTotp);
    const _csrf = csrfTokenOf(await page.text());
    const before = await byNik(EKO);
    const holder = await server.instance.citizens.findByVerifiedPhone(e164(BUDI.phone!));
    const refused = await agent.post('/loket/telepon', { _csrf, nik: EKO.nik, phone: BUDI.phone!, phone_checked: 'ya' });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('sudah menjadi nomor terverifikasi akun Kediri ID lain');
    expect(await byNik(EKO)).toEqual(before);
    expect(await server.instance.citizens.findByVerifiedPhone(e164(BUDI.phone!))).toEqual(holder);
    expect(await auditOf('phone.verified', before.id)).toEqual([]);
  });

  test('a citizen without the officer role cannot record a phone', async () => {
    const { agent, page } = await staffAgent(BUDI);
    expect(page.status).toBe(403);
    const _csrf = csrfTokenOf(await (await agent.request('/akun')).text());
    const before = await byNik(EKO);
    const res = await agent.post('/loket/telepon', { _csrf, nik: EKO.nik, phone: '081211119999', phone_checked: 'ya' });
    expect(res.status).toBe(403);
    expect((await new Agent(server.url).post('/loket/telepon', { nik: EKO.nik, phone: '081211119999', phone_checked: 'ya' })).status).toBe(303);
    expect(await byNik(EKO)).toEqual(before);
  });
});

describe('phone_number_verified in the phone scope', () => {
  test('is true only once a code or the counter proved the number', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance, { scope: 'openid phone' });
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const phoneClaims = async (who: Person) => {
      const tokens = await signInAndExchange(rp, who.login, who.password, { scope: 'openid phone' });
      const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
      return { phone_number: userinfo.phone_number, phone_number_verified: userinfo.phone_number_verified };
    };

    // Typed at registration, never proved.
    expect(await phoneClaims(EKO)).toEqual({ phone_number: '+6281211110005', phone_number_verified: false });
    // Proved by a code on /akun (the same number, now verified).
    const { agent } = await open(EKO);
    expect((await requestChange(agent, EKO.phone!, EKO.password)).status).toBe(303);
    expect((await enterCode(agent, await lastCodeTo(server.instance.db, '+6281211110005'))).status).toBe(303);
    expect(await phoneClaims(EKO)).toEqual({ phone_number: '+6281211110005', phone_number_verified: true });
    // Recorded at the counter.
    expect(await phoneClaims(DEWI)).toEqual({ phone_number: '+6281211110007', phone_number_verified: true });
  });
});

describe('security notices reach phone-only citizens', () => {
  test('a citizen without an email gets a phone notice when the password changes', async () => {
    const { agent, html } = await open(ANI, '/akun/kata-sandi');
    const before = await messagesTo(e164(ANI.phone!));
    const next = 'pecel-tumpang-pasar-setono-baru';
    const changed = await agent.post('/akun/kata-sandi', { _csrf: csrfTokenOf(html), current: ANI.password, password: next, password_confirm: next });
    expect(changed.status).toBe(303);
    const after = await messagesTo(e164(ANI.phone!));
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toMatchObject({ kind: 'notice', channel: 'whatsapp', code: null });
    expect(after.at(-1)!.body).toContain('kata sandi');
    ANI.password = next;
  });

  test('a number gets three notices of a kind a day at most, other kinds still reach it, and notices leave the daily budget of codes alone', async () => {
    const phone = e164(ANI.phone!);
    const citizen = (await server.instance.citizens.findByVerifiedPhone(phone))!;
    const budgetBefore = await server.instance.messages.codesToday();
    const notices = async () => (await messagesTo(phone)).filter((m) => m.kind === 'notice').length;
    const before = await notices();
    // A counter can ask for confirmations, and anyone can lock an account with wrong passwords: each would text the citizen.
    for (let i = 0; i < 5; i++) await server.instance.notices.send(citizen, 'ciba_request');
    expect(await notices()).toBe(before + NOTICES_PER_DAY);
    await server.instance.notices.send(citizen, 'account_locked');
    expect(await notices()).toBe(before + NOTICES_PER_DAY + 1);
    expect(await server.instance.messages.codesToday()).toBe(budgetBefore);
  });

  test('a citizen with an email gets the email, and no phone message', async () => {
    const { agent, html } = await open(BUDI, '/akun/kata-sandi');
    const texts = (await messagesTo(e164(BUDI.phone!))).length;
    const next = 'sepeda-biru-di-jalan-dhoho-baru';
    expect((await agent.post('/akun/kata-sandi', { _csrf: csrfTokenOf(html), current: BUDI.password, password: next, password_confirm: next })).status).toBe(303);
    expect((await lastEmailTo(server.instance.db, BUDI.email!)).subject).toContain('Kata sandi Kediri ID Anda telah diubah');
    expect(await messagesTo(e164(BUDI.phone!))).toHaveLength(texts);
    BUDI.password = next;
  });
});
