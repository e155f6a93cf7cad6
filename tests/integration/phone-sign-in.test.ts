import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { CALLBACK, createWebClient, enrolTotp, totpCode } from '../support/fixtures.js';
import { lastCodeTo, messagesTo, phoneCodesAge } from '../support/messages.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import type { Services } from '../../src/services.js';

const BASIC = 'urn:kediri:acr:basic';
const VERIFIED = 'urn:kediri:acr:verified';
const VERIFIED_MFA = 'urn:kediri:acr:verified-mfa';
const LOCKOUT_FAILURES = 6;
const LINK_TEXT = 'Masuk dengan kode lewat WhatsApp/SMS';

/** Citizens of this file, each with a verified phone number (E.164) and a password. */
const PUTRI = { nik: '3571014101900001', name: 'Putri Ayu', birthdate: '1990-01-01', phone: '+6281234500001', password: 'kembang-api-di-alun-alun' };
const AGUS = { nik: '3571020512880003', name: 'Agus Salim', birthdate: '1988-12-05', phone: '+6281234500002', password: 'sepeda-biru-di-jalan-dhoho' };
const HADI = { nik: '3571034708950001', name: 'Hadi Wijaya', birthdate: '1995-08-07', phone: '+6281234500003', password: 'layang-layang-di-sawah-kediri' };
const WIDODO = { nik: '3571016003000002', name: 'Widodo Santoso', birthdate: '2000-03-20', phone: '+6281234500004', email: 'widodo@example.id', password: 'kopi-tubruk-di-pasar-setono' };
const RATNA = { nik: '3571015211800003', name: 'Ratna Sari', birthdate: '1980-11-12', phone: '+6281234500005', password: 'bunga-melati-di-taman-sekartaji' };
const YUDI = { nik: '3571011204750001', name: 'Yudi Pratama', birthdate: '1975-04-12', phone: '+6281234500006', password: 'sawah-hijau-di-kaki-gunung-wilis' };
/** Disabled for inactivity by the retention job (src/retention.ts). */
const SARI = { nik: '3571015505820004', name: 'Sari Dewi', birthdate: '1982-05-15', phone: '+6281234500017', password: 'pecel-lele-di-jalan-dhoho' };
/** A number no account holds. */
const NOBODY = '+6281234599999';

let server: TestServer;
let rp: oidc.Configuration;

/** An account (without an email unless given) whose phone number is verified, as a code or the counter would make it. */
async function citizenWithPhone(instance: Services, who: { nik: string; name: string; birthdate: string; phone: string; password: string; email?: string }) {
  const citizen = await instance.citizens.create(who, { actor: 'test', emailVerified: who.email !== undefined });
  await instance.db.transaction(async (tx) => {
    if (!(await instance.citizens.setVerifiedPhone(tx, citizen.id, who.phone))) throw new Error('number taken');
  });
  return citizen;
}

beforeAll(async () => {
  // This file asks for many codes and tries many from one address; no growing waits between failures.
  server = await startTestServer({
    IP_LIMIT_CODE: '1000',
    IP_LIMIT_MESSAGE: '1000',
    IP_LIMIT_LOGIN: '1000',
    LOCKOUT_FAILURES: String(LOCKOUT_FAILURES),
    LOGIN_MAX_DELAY_SECONDS: '0',
  });
  for (const who of [PUTRI, AGUS, HADI, WIDODO, RATNA, YUDI, SARI]) await citizenWithPhone(server.instance, who);
  const agus = (await server.instance.citizens.findByVerifiedPhone(AGUS.phone))!;
  await server.instance.db.transaction((tx) => server.instance.citizens.markIdentityVerified(tx, agus.id, { method: 'population_data', name: AGUS.name }));
  const { clientId, clientSecret } = await createWebClient(server.instance, { scope: 'openid phone' });
  rp = await relyingParty(server.url, clientId, clientSecret);
});
afterAll(() => server.close());

/** The message next to a field, as the form shows it. */
const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error"[^>]*>([\\s\\S]*?)</p>`).exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim();
/** A page without its per-browser parts (the CSRF token, the interaction id), to compare two answers. */
const comparable = (html: string) => html.replace(/name="_csrf" value="[^"]+"/g, '').replace(/\/interaction\/[A-Za-z0-9_-]+/g, '/interaction/UID');

/** Opens the login page of a fresh authorization request in this browser. */
async function loginPage(agent: Agent, params: Record<string, string> = {}) {
  const request = await authorizationRequest(rp, { scope: 'openid', ...params });
  const { res, url } = await agent.follow(request.url);
  expect(url).toContain('/interaction/');
  return { request, interaction: url.replace(/\/$/, ''), html: await res!.text() };
}

/** Asks for a code to `phone` from the number form of this interaction. */
async function askCode(agent: Agent, interaction: string, phone: string, channel = 'whatsapp'): Promise<Response> {
  const form = await agent.request(`${interaction}/kode`);
  expect(form.status).toBe(200);
  return agent.post(`${interaction}/kode`, { _csrf: csrfTokenOf(await form.text()), phone, channel });
}

/** Posts a code on the code form of this interaction. */
async function postCode(agent: Agent, interaction: string, code: string): Promise<Response> {
  const form = await agent.request(`${interaction}/kode/masukkan`);
  expect(form.status).toBe(200);
  return agent.post(`${interaction}/kode/masukkan`, { _csrf: csrfTokenOf(await form.text()), code });
}

/** After a completed login step: follows on, through consent, to the client's redirect URI. */
async function toCallback(agent: Agent, posted: Response): Promise<string> {
  expect(posted.status).toBe(303);
  let { res, url } = await agent.follow(posted.headers.get('location')!);
  if (url.includes('/interaction/')) {
    const html = await res!.text();
    expect(html).toContain('/consent');
    const consented = await agent.post(`${url.replace(/\/$/, '')}/consent`, { _csrf: csrfTokenOf(html) });
    ({ url } = await agent.follow(consented.headers.get('location')!));
  }
  expect(url.startsWith(CALLBACK)).toBe(true);
  return url;
}

/** A whole sign-in with a code alone, in a fresh browser: the tokens the service gets. */
async function codeSignIn(phone: string, typed = phone, channel = 'whatsapp') {
  const agent = new Agent(server.url);
  const { request, interaction, html } = await loginPage(agent);
  expect(html).toContain(LINK_TEXT);
  expect(html).toContain(`href="${new URL(interaction).pathname}/kode"`);
  const asked = await askCode(agent, interaction, typed, channel);
  expect(asked.status).toBe(303);
  expect(asked.headers.get('location')).toBe(`${new URL(interaction).pathname}/kode/masukkan?dikirim=1`);
  const posted = await postCode(agent, interaction, await lastCodeTo(server.instance.db, phone));
  return oidc.authorizationCodeGrant(rp, new URL(await toCallback(agent, posted)), request.checks);
}

const failuresOf = async (citizenId: string) =>
  (await server.instance.db.query<{ count: number }>('select count from throttle where key = $1', [`account:${citizenId}`])).rows[0]?.count ?? 0;

describe('signing in with a code sent to the phone', () => {
  test('a verified phone signs in with the code alone: acr basic, amr whatsapp; the code says never to share it', async () => {
    const tokens = await codeSignIn(PUTRI.phone);
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(BASIC);
    expect(claims.amr).toEqual(['whatsapp']);
    const { rows } = await server.instance.db.query<{ body: string; channel: string }>(
      "select body, channel from message_outbox where to_phone = $1 and kind = 'code' order by id desc limit 1",
      [PUTRI.phone],
    );
    expect(rows[0]!.channel).toBe('whatsapp');
    expect(rows[0]!.body).toContain('JANGAN BERIKAN');
    const audited = await server.instance.db.query<{ details: { acr: string; amr: string[] } }>(
      "select details from audit_events where type = 'login.succeeded' and citizen_id = (select id from citizens where phone = $1) order by id desc limit 1",
      [PUTRI.phone],
    );
    expect(audited.rows[0]!.details).toMatchObject({ acr: BASIC, amr: ['whatsapp'] });
  });

  test('by SMS, with the number typed as 08..: amr sms', async () => {
    const tokens = await codeSignIn(YUDI.phone, '0812-3450-0006', 'sms');
    expect(tokens.claims()).toMatchObject({ acr: BASIC, amr: ['sms'] });
  });

  test('a verified identity still gets basic with a code; with the password it gets verified', async () => {
    expect((await codeSignIn(AGUS.phone)).claims()).toMatchObject({ acr: BASIC, amr: ['whatsapp'] });
    expect((await signInAndExchange(rp, AGUS.phone, AGUS.password, { scope: 'openid' })).claims()).toMatchObject({ acr: VERIFIED, amr: ['pwd'] });
  });

  test('the link shows only when the service asks for the basic level; a forced code sign-in above it ends unmet, and no code is sent', async () => {
    for (const acr of [BASIC, `${VERIFIED} ${BASIC}`]) {
      expect((await loginPage(new Agent(server.url), { acr_values: acr })).html).toContain(LINK_TEXT);
    }
    for (const acr of [VERIFIED, VERIFIED_MFA, `${VERIFIED_MFA} ${VERIFIED}`]) {
      const agent = new Agent(server.url);
      const { request, interaction, html } = await loginPage(agent, { acr_values: acr });
      expect(html).not.toContain(LINK_TEXT);
      expect(html).not.toContain('/kode"');
      const before = await messagesTo(server.instance.db, AGUS.phone);
      const forced = await agent.post(`${interaction}/kode`, { _csrf: csrfTokenOf(html), phone: AGUS.phone, channel: 'sms' });
      expect(forced.status).toBe(303);
      const { url } = await agent.follow(forced.headers.get('location')!);
      expect(url.startsWith(CALLBACK)).toBe(true);
      expect(new URL(url).searchParams.get('error')).toBe('unmet_authentication_requirements');
      await expect(oidc.authorizationCodeGrant(rp, new URL(url), request.checks)).rejects.toMatchObject({ error: 'unmet_authentication_requirements' });
      expect(await messagesTo(server.instance.db, AGUS.phone)).toBe(before);
    }
  });

  test('an unknown number gets the same answers as a known one, and no message', async () => {
    await phoneCodesAge(server.instance.db, PUTRI.phone, 3600);
    const pages: string[] = [];
    for (const phone of [PUTRI.phone, NOBODY]) {
      const agent = new Agent(server.url);
      const { interaction } = await loginPage(agent);
      const asked = await askCode(agent, interaction, phone);
      expect(asked.status).toBe(303);
      expect(asked.headers.get('location')).toBe(`${new URL(interaction).pathname}/kode/masukkan?dikirim=1`);
      const form = await agent.request(asked.headers.get('location')!);
      expect(form.status).toBe(200);
      const wrong = await postCode(agent, interaction, '000000');
      expect(wrong.status).toBe(400);
      pages.push(comparable(await form.text()).replace(/\+62812\*+\d{3}/g, 'PHONE'), comparable(await wrong.text()).replace(/\+62812\*+\d{3}/g, 'PHONE'));
    }
    expect(pages[2]).toBe(pages[0]);
    expect(pages[3]).toBe(pages[1]);
    expect(pages[0]).toContain('Jika +62812****001 adalah nomor HP terverifikasi'.replace('+62812****001', 'PHONE'));
    expect(await messagesTo(server.instance.db, NOBODY)).toBe(0);
    // The code asked for the unknown number exists (the limits count it) but went to nobody.
    const { rows } = await server.instance.db.query<{ n: number }>('select count(*)::int as n from phone_codes where phone = $1 and citizen_id is null', [NOBODY]);
    expect(rows[0]!.n).toBe(1);
  });

  test('a malformed number is refused beside the field, and nothing is sent', async () => {
    const agent = new Agent(server.url);
    const { interaction } = await loginPage(agent);
    for (const [phone, text] of [['', 'Masukkan nomor HP'], ['12ab', 'nomor HP Indonesia yang benar'], ['+1 202 555 0100', 'nomor HP Indonesia yang benar']] as const) {
      const res = await askCode(agent, interaction, phone);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain('href="#phone"');
      expect(fieldError(html, 'phone')).toContain(text);
    }
  });

  test('wrong codes are refused and counted: five tries, then the code is dead; the account locks after LOCKOUT_FAILURES, for passwords too', async () => {
    const hadi = (await server.instance.citizens.findByVerifiedPhone(HADI.phone))!;
    const agent = new Agent(server.url);
    const { interaction } = await loginPage(agent);
    expect((await askCode(agent, interaction, HADI.phone)).status).toBe(303);
    const code = await lastCodeTo(server.instance.db, HADI.phone);
    const wrongCode = code === '123456' ? '654321' : '123456';
    for (let i = 1; i <= 5; i++) {
      const wrong = await postCode(agent, interaction, wrongCode);
      expect(wrong.status).toBe(400);
      expect(fieldError(await wrong.text(), 'code')).toContain('Kode salah atau sudah tidak berlaku');
      expect(await failuresOf(hadi.id)).toBe(i);
    }
    // The sixth try, with the right code: the code takes no more, and this failure locks the account.
    const dead = await postCode(agent, interaction, code);
    expect(dead.status).toBe(400);
    expect(await failuresOf(hadi.id)).toBe(LOCKOUT_FAILURES);
    const locked = await server.instance.db.query("select 1 from audit_events where type = 'account.locked' and citizen_id = $1", [hadi.id]);
    expect(locked.rowCount).toBe(1);
    const failed = await server.instance.db.query<{ details: { method: string } }>("select details from audit_events where type = 'login.failed' and citizen_id = $1", [hadi.id]);
    expect(failed.rows.map((r) => r.details.method)).toEqual(Array(6).fill('phone_code'));

    // A fresh code, right: refused while the lock runs; the password too.
    await phoneCodesAge(server.instance.db, HADI.phone, 3600);
    const again = new Agent(server.url);
    const second = await loginPage(again);
    expect((await askCode(again, second.interaction, HADI.phone)).status).toBe(303);
    const refused = await postCode(again, second.interaction, await lastCodeTo(server.instance.db, HADI.phone));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(fieldError(await refused.text(), 'code')).toContain('dikunci sementara');
    await expect(signInAndExchange(rp, HADI.phone, HADI.password, { scope: 'openid' })).rejects.toThrow(/login answered 429/);
  });

  test('a used code does not sign in again (replayed from a copy of the browser)', async () => {
    const agent = new Agent(server.url);
    const { interaction } = await loginPage(agent);
    await phoneCodesAge(server.instance.db, RATNA.phone, 3600);
    expect((await askCode(agent, interaction, RATNA.phone)).status).toBe(303);
    const copy = new Agent(server.url);
    for (const [name, value] of agent['cookies']) copy['cookies'].set(name, value);
    const code = await lastCodeTo(server.instance.db, RATNA.phone);
    expect((await postCode(agent, interaction, code)).status).toBe(303);
    const replay = await postCode(copy, interaction, code);
    expect(replay.status).toBe(400);
    expect(fieldError(await replay.text(), 'code')).toContain('Kode salah atau sudah tidak berlaku');
  });

  test('a new code after a minute, by the other channel; the earlier one stops working', async () => {
    await phoneCodesAge(server.instance.db, RATNA.phone, 3600);
    const agent = new Agent(server.url);
    const { request, interaction } = await loginPage(agent);
    expect((await askCode(agent, interaction, RATNA.phone, 'whatsapp')).status).toBe(303);
    const first = await lastCodeTo(server.instance.db, RATNA.phone);
    const form = await (await agent.request(`${interaction}/kode/masukkan`)).text();
    expect(form).toContain('name="channel" type="radio" value="sms"');

    // Too soon: no message, the page says how long to wait.
    const soon = await agent.post(`${interaction}/kode/kirim-ulang`, { _csrf: csrfTokenOf(form), channel: 'sms' });
    expect(soon.status).toBe(303);
    expect(soon.headers.get('location')).toMatch(/\/kode\/masukkan\?tunggu=\d+$/);
    expect(await (await agent.request(soon.headers.get('location')!)).text()).toMatch(/Tunggu \d+ detik sebelum meminta kode baru/);
    const before = await messagesTo(server.instance.db, RATNA.phone);

    await phoneCodesAge(server.instance.db, RATNA.phone, 61);
    const resent = await agent.post(`${interaction}/kode/kirim-ulang`, { _csrf: csrfTokenOf(form), channel: 'sms' });
    expect(resent.status).toBe(303);
    expect(resent.headers.get('location')).toMatch(/\/kode\/masukkan\?dikirim=1$/);
    expect(await messagesTo(server.instance.db, RATNA.phone)).toBe(before + 1);
    const second = await lastCodeTo(server.instance.db, RATNA.phone);
    if (second !== first) expect((await postCode(agent, interaction, first)).status).toBe(400);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(await toCallback(agent, await postCode(agent, interaction, second))), request.checks);
    expect(tokens.claims()).toMatchObject({ acr: BASIC, amr: ['sms'] });
  });

  test('an account with a second factor gives it after the code too: amr whatsapp and otp, still basic', async () => {
    const secret = await enrolTotp(server.instance, WIDODO.email);
    const agent = new Agent(server.url);
    const { request, interaction } = await loginPage(agent);
    expect((await askCode(agent, interaction, WIDODO.phone)).status).toBe(303);
    const posted = await postCode(agent, interaction, await lastCodeTo(server.instance.db, WIDODO.phone));
    expect(posted.status).toBe(200);
    const html = await posted.text();
    expect(html).toContain(`${new URL(interaction).pathname}/otp`);
    const otp = await agent.post(`${interaction}/otp`, { _csrf: csrfTokenOf(html), code: await totpCode(secret) });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(await toCallback(agent, otp)), request.checks);
    expect(tokens.claims()).toMatchObject({ acr: BASIC, amr: ['whatsapp', 'otp'] });
  });

  test('the code routes need the interaction they name; a code form without a code asked for sends back to the number form', async () => {
    const agent = new Agent(server.url);
    const { interaction, html } = await loginPage(agent);
    const form = await agent.request(`${interaction}/kode/masukkan`);
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe(`${new URL(interaction).pathname}/kode`);
    const noCode = await agent.post(`${interaction}/kode/masukkan`, { _csrf: csrfTokenOf(html), code: '123456' });
    expect(noCode.status).toBe(400);
    const other = await agent.post(`${server.url}/interaction/bukan-interaksi-ini/kode`, { _csrf: csrfTokenOf(html), phone: PUTRI.phone });
    expect(other.status).toBe(400);
  });

  test('the phone number and password sign in, the number typed in any accepted form', async () => {
    for (const typed of ['0812 3450 0001', '+62 812-3450-0001', '6281234500001', '(0812) 3450.0001']) {
      const tokens = await signInAndExchange(rp, typed, PUTRI.password, { scope: 'openid' });
      expect(tokens.claims()).toMatchObject({ acr: BASIC, amr: ['pwd'] });
    }
  });
});

describe('an account disabled for inactivity', () => {
  test('a right code is told the account is disabled and to visit the MPP counter; a wrong one is only wrong', async () => {
    // As the retention job leaves it (its test is tests/integration/retention.test.ts).
    await server.instance.db.query("update citizens set status = 'locked', disabled_inactive_at = now() where phone = $1", [SARI.phone]);
    const agent = new Agent(server.url);
    const { interaction } = await loginPage(agent);
    expect((await askCode(agent, interaction, SARI.phone)).status).toBe(303);
    const code = await lastCodeTo(server.instance.db, SARI.phone);
    const wrong = await postCode(agent, interaction, code === '000000' ? '111111' : '000000');
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).not.toContain('dinonaktifkan');
    const right = await postCode(agent, interaction, code);
    expect(right.status).toBe(403);
    expect(fieldError(await right.text(), 'code')).toContain('dinonaktifkan karena lama tidak digunakan');
    expect((await server.instance.db.query("select 1 from audit_events where type = 'login.disabled_account'")).rowCount).toBe(1);
  });
});

describe("Kediri ID's own pages", () => {
  test('a code alone signs in to /akun, but a change that needs a recent login asks for the password', async () => {
    const KARTINI = { nik: '3571014304850001', name: 'Kartini Wulandari', birthdate: '1985-04-03', phone: '+6281234500007', password: 'gunung-kelud-di-waktu-pagi' };
    await citizenWithPhone(server.instance, KARTINI);
    const agent = new Agent(server.url);
    // The sign-in that /akun/telepon (a recent-login page) starts, made with a code.
    const { url: interaction } = await agent.follow('/masuk?lanjut=%2Fakun%2Ftelepon&ulang=1');
    expect(interaction).toContain('/interaction/');
    const base = interaction.replace(/\/$/, '');
    expect((await askCode(agent, base, KARTINI.phone)).status).toBe(303);
    const posted = await postCode(agent, base, await lastCodeTo(server.instance.db, KARTINI.phone));
    expect(posted.status).toBe(303);
    // Signed in, and straight back at a login page (a new one) for the password: the phone change
    // needs a recent login with the password, and a code alone is not one.
    const { res, url } = await agent.follow(posted.headers.get('location')!);
    expect(url).toMatch(/\/interaction\/[\w-]+$/);
    expect(url).not.toBe(interaction);
    expect(await res!.text()).toContain('name="password"');
    expect((await agent.request('/akun')).status).toBe(200);
  });
});

describe('with PHONE_CODE_SIGN_IN=false', () => {
  let off: TestServer;
  beforeAll(async () => {
    off = await startTestServer({ PHONE_CODE_SIGN_IN: 'false' });
    await citizenWithPhone(off.instance, PUTRI);
  });
  afterAll(() => off.close());

  test('the login page has no code link, and the code routes answer 404; the number and password still sign in', async () => {
    const { clientId, clientSecret } = await createWebClient(off.instance, { scope: 'openid' });
    const offRp = await relyingParty(off.url, clientId, clientSecret);
    const agent = new Agent(off.url);
    const { res, url } = await agent.follow((await authorizationRequest(offRp)).url);
    const html = await res!.text();
    expect(html).not.toContain(LINK_TEXT);
    expect(html).toContain('name="password"');
    expect((await agent.request(`${url}/kode`)).status).toBe(404);
    expect((await agent.post(`${url}/kode`, { _csrf: csrfTokenOf(html), phone: PUTRI.phone, channel: 'sms' })).status).toBe(404);
    expect((await agent.post(`${url}/kode/masukkan`, { _csrf: csrfTokenOf(html), code: '123456' })).status).toBe(404);
    expect(await messagesTo(off.instance.db, PUTRI.phone)).toBe(0);
    expect((await signInAndExchange(offRp, PUTRI.phone, PUTRI.password)).claims()).toMatchObject({ acr: BASIC, amr: ['pwd'] });
  });
});
