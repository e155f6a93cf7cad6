import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { emailedTokensAge, emailsTo, lastEmailTo } from '../support/mail.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';
import { lastCodeTo, messagesTo, phoneCodesAge } from '../support/messages.js';

let server: TestServer;
let rp: oidc.Configuration;

beforeAll(async () => {
  // This file asks for many reset links and codes from one address, and counts wrong codes without growing waits between them.
  server = await startTestServer({ IP_LIMIT_RESET: '1000', IP_LIMIT_MESSAGE: '1000', LOGIN_MAX_DELAY_SECONDS: '0' });
  const { clientId, clientSecret } = await createWebClient(server.instance);
  rp = await relyingParty(server.url, clientId, clientSecret);
});
afterAll(() => server.close());

/** Citizens of this file (besides SITI): each test changes the password of its own. */
const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const RINA = { nik: '3571034708950001', name: 'Rina Wati', birthdate: '1995-08-07', email: 'rina@example.id', password: 'layang-layang-di-sawah-kediri' };
const AYU = { nik: '3571016003000002', name: 'Ayu Lestari', birthdate: '2000-03-20', email: 'ayu@example.id', password: 'kopi-tubruk-di-pasar-setono' };

const WATI = { nik: '3571015211800003', name: 'Wati Rahayu', birthdate: '1980-11-12', email: 'wati@example.id', password: 'bunga-melati-di-taman-sekartaji' };
const EKO = { nik: '3571011204750001', name: 'Eko Prasetyo', birthdate: '1975-04-12', email: 'eko@example.id', password: 'sawah-hijau-di-kaki-gunung-wilis' };
const NEW_PASSWORD = 'gunung-kelud-pagi-berkabut';

/** The message next to a field, as the form shows it. */
const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error"[^>]*>([\\s\\S]*?)</p>`).exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim();
/** A page without its per-browser CSRF token, to compare two answers. */
const withoutCsrf = (html: string) => html.replace(/name="_csrf" value="[^"]+"/g, 'name="_csrf" value=""');

const passwordWorks = async (email: string, password: string) => (await server.instance.citizens.authenticate(email, password)) !== undefined;

/** Asks for a reset link from the /lupa-sandi form in this browser. */
async function requestReset(agent: Agent, email: string): Promise<Response> {
  const _csrf = csrfTokenOf(await (await agent.request('/lupa-sandi')).text());
  return agent.post('/lupa-sandi', { _csrf, contact: email });
}

/** Asks for a reset link (a minute after any earlier one: sooner none is sent) and returns the link the email brings. */
async function resetLink(email: string): Promise<string> {
  await emailedTokensAge(server.instance.db, email, 60);
  const before = await emailsTo(server.instance.db, email);
  expect((await requestReset(new Agent(server.url), email)).status).toBe(200);
  expect(await emailsTo(server.instance.db, email)).toBe(before + 1);
  const { link } = await lastEmailTo(server.instance.db, email);
  expect(link).toMatch(new RegExp(`^${server.url}/lupa-sandi/atur\\?token=`));
  return link!;
}

/** Opens the link in a fresh browser and submits the new password form. */
async function submitNewPassword(link: string, password: string, confirm = password) {
  const agent = new Agent(server.url);
  const page = await agent.request(link);
  expect(page.status).toBe(200);
  const html = await page.text();
  const token = new URL(link).searchParams.get('token')!;
  expect(html).toContain(`name="token" value="${token}"`);
  return agent.post('/lupa-sandi/atur', { _csrf: csrfTokenOf(html), token, password, password_confirm: confirm });
}

/** Posts the form of a link that no longer opens (the form was loaded from another, live page). */
async function postWithToken(token: string, password: string) {
  const agent = new Agent(server.url);
  const _csrf = csrfTokenOf(await (await agent.request('/lupa-sandi')).text());
  return agent.post('/lupa-sandi/atur', { _csrf, token, password, password_confirm: password });
}

const INVALID_HEADING = 'Tautan tidak berlaku lagi';

describe('password reset (/lupa-sandi)', () => {
  beforeAll(async () => {
    for (const citizen of [SITI, BUDI, RINA, AYU, WATI, EKO]) await createCitizen(server.instance, citizen);
  });

  test('a registered and an unknown email get the same page; only the registered one gets an email; a malformed one is refused', async () => {
    const unknown = 'tidak-ada@example.id';
    const registeredMails = await emailsTo(server.instance.db, BUDI.email);

    const registered = await requestReset(new Agent(server.url), BUDI.email);
    const nobody = await requestReset(new Agent(server.url), unknown);
    expect(registered.status).toBe(200);
    expect(nobody.status).toBe(registered.status);
    const [registeredHtml, nobodyHtml] = [await registered.text(), await nobody.text()];
    expect(registeredHtml).toContain('Periksa email Anda');
    expect(withoutCsrf(nobodyHtml)).toBe(withoutCsrf(registeredHtml));

    expect(await emailsTo(server.instance.db, BUDI.email)).toBe(registeredMails + 1);
    expect(await emailsTo(server.instance.db, unknown)).toBe(0);
    const email = await lastEmailTo(server.instance.db, BUDI.email);
    expect(email.subject).toContain('Atur ulang kata sandi');
    expect(email.link).toMatch(new RegExp(`^${server.url}/lupa-sandi/atur\\?token=`));

    const before = await server.instance.db.query<{ n: number }>('select count(*)::int as n from outbox');
    const malformed = await requestReset(new Agent(server.url), 'budi@');
    expect(malformed.status).toBe(400);
    const html = await malformed.text();
    expect(html).toContain('href="#contact"');
    expect(fieldError(html, 'contact')).toContain('alamat email yang benar');
    expect(html).toContain('value="budi@"');
    expect((await server.instance.db.query<{ n: number }>('select count(*)::int as n from outbox')).rows[0]!.n).toBe(before.rows[0]!.n);
  });

  test('a second request within a minute sends no email, and its page is the very page an unknown address gets; the first link still works', async () => {
    const first = await requestReset(new Agent(server.url), EKO.email);
    expect(first.status).toBe(200);
    expect(await emailsTo(server.instance.db, EKO.email)).toBe(1);
    const { link } = await lastEmailTo(server.instance.db, EKO.email);

    const again = await requestReset(new Agent(server.url), EKO.email);
    const nobody = await requestReset(new Agent(server.url), 'tidak-ada@example.id');
    expect(again.status).toBe(nobody.status);
    expect(again.headers.get('retry-after')).toBeNull();
    expect(withoutCsrf(await again.text())).toBe(withoutCsrf(await nobody.text()));
    expect(await emailsTo(server.instance.db, EKO.email)).toBe(1);
    expect((await new Agent(server.url).request(link!)).status).toBe(200);

    // A minute later, parallel requests send one email.
    await emailedTokensAge(server.instance.db, EKO.email, 60);
    const statuses = await Promise.all(Array.from({ length: 5 }, async () => (await requestReset(new Agent(server.url), EKO.email)).status));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(await emailsTo(server.instance.db, EKO.email)).toBe(2);
  });

  test('the link opens the form; a common password or one with the birth date is refused and changes nothing', async () => {
    const link = await resetLink(RINA.email);
    for (const [password, text] of [
      ['password123', 'terlalu umum'],
      ['rina-lahir-07081995', 'tanggal lahir'],
      ['lahir-1995-08-07-di-kediri', 'tanggal lahir'],
    ] as const) {
      const res = await submitNewPassword(link, password);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain('href="#password"');
      expect(fieldError(html, 'password')).toContain(text);
      // The form stays usable with the same link, and never shows the password back.
      expect(html).toContain('name="password"');
      expect(html).not.toContain(password);
      expect(await passwordWorks(RINA.email, RINA.password)).toBe(true);
      expect(await passwordWorks(RINA.email, password)).toBe(false);
    }
    // A refused password did not spend the link.
    expect((await new Agent(server.url).request(link)).status).toBe(200);
  });

  test('a good password: the old one stops working, the new one works, every session, grant and token of the account ends', async () => {
    const { id: citizenId } = (await server.instance.citizens.findByEmail(SITI.email))!;

    // Before the reset: a signed-in browser and a relying party holding offline tokens.
    const request = await authorizationRequest(rp, { scope: 'openid profile email offline_access', prompt: 'consent' });
    const browser = new Agent(server.url);
    const callback = await signIn(browser, request.url, SITI.nik, SITI.password);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
    expect(tokens.refresh_token).toBeTruthy();
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    const stored = async () =>
      (await server.instance.db.query<{ model: string }>("select model from oidc_payloads where payload->>'accountId' = $1 order by model", [citizenId]))
        .rows.map((r) => r.model);
    expect(await stored()).toEqual(expect.arrayContaining(['AccessToken', 'Grant', 'RefreshToken', 'Session']));
    // The same browser is signed in: a new authorization request needs no password.
    const silent = await browser.follow((await authorizationRequest(rp, { scope: 'openid' })).url);
    expect(silent.url).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);

    const link = await resetLink(SITI.email);
    const mismatch = await submitNewPassword(link, NEW_PASSWORD, `${NEW_PASSWORD}!`);
    expect(mismatch.status).toBe(400);
    expect(fieldError(await mismatch.text(), 'password_confirm')).toContain('tidak sama');
    expect(await passwordWorks(SITI.email, SITI.password)).toBe(true);

    const mails = await emailsTo(server.instance.db, SITI.email);
    const done = await submitNewPassword(link, NEW_PASSWORD);
    expect(done.status).toBe(200);
    const donePage = await done.text();
    expect(donePage).toContain('Kata sandi Anda sudah diubah');
    // The reset began at no service it knows of: the way on is the account, or the home page.
    expect(donePage).toContain('<a class="button" href="/akun" role="button" draggable="false">Buka Akun saya</a>');
    expect(donePage).toContain('<a class="link" href="/">Ke beranda Kediri ID</a>');

    expect(await passwordWorks(SITI.email, SITI.password)).toBe(false);
    expect(await passwordWorks(SITI.nik, SITI.password)).toBe(false);
    expect(await passwordWorks(SITI.email, NEW_PASSWORD)).toBe(true);

    // Sessions, grants and tokens: nothing of the account is left, and the protocol says so.
    expect(await stored()).toEqual([]);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).rejects.toBeDefined();
    const again = await browser.follow((await authorizationRequest(rp, { scope: 'openid' })).url);
    expect(again.url).toContain('/interaction/');
    expect(await again.res!.text()).toContain('name="password"');

    // The old password fails at the login form; the new one signs in.
    await expect(signInAndExchange(rp, SITI.nik, SITI.password, { scope: 'openid' })).rejects.toThrow(/login answered 400/);
    const fresh = await signInAndExchange(rp, SITI.nik, NEW_PASSWORD, { scope: 'openid' });
    // "Buka Akun saya" signs in with the new password, and there it is.
    const account = new Agent(server.url);
    const landed = await signIn(account, (await account.request('/akun')).headers.get('location')!, SITI.email, NEW_PASSWORD);
    expect(new URL(landed).pathname).toBe('/akun');
    expect(fresh.claims()!.sub).toBe(pairwiseSubject(server.instance.sealer, 'dispendukcapil', citizenId));

    // The "password changed" notice is queued.
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mails + 1);
    const notice = await lastEmailTo(server.instance.db, SITI.email);
    expect(notice.subject).toContain('Kata sandi Kediri ID Anda telah diubah');
    expect(notice.link).toBeUndefined();

    // The link was single use: opening or posting it again is refused, and nothing changes.
    const reopened = await new Agent(server.url).request(link);
    expect(reopened.status).toBe(400);
    expect(await reopened.text()).toContain(INVALID_HEADING);
    const reused = await postWithToken(new URL(link).searchParams.get('token')!, 'matahari-terbit-di-brantas');
    expect(reused.status).toBe(400);
    expect(await reused.text()).toContain(INVALID_HEADING);
    expect(await passwordWorks(SITI.email, NEW_PASSWORD)).toBe(true);
    expect(await passwordWorks(SITI.email, 'matahari-terbit-di-brantas')).toBe(false);
  });

  test('an expired link is refused', async () => {
    const link = await resetLink(AYU.email);
    const token = new URL(link).searchParams.get('token')!;
    // Both links of this account are old now: the first is retired, this one expired.
    const expired = await server.instance.db.query(
      `update account_tokens set expires_at = now() - interval '1 minute'
       where citizen_id = (select id from citizens where email = $1) and purpose = 'reset_password' and consumed_at is null`,
      [AYU.email],
    );
    expect(expired.rowCount).toBe(1);
    const opened = await new Agent(server.url).request(link);
    expect(opened.status).toBe(400);
    expect(await opened.text()).toContain(INVALID_HEADING);
    const posted = await postWithToken(token, NEW_PASSWORD);
    expect(posted.status).toBe(400);
    expect(await posted.text()).toContain(INVALID_HEADING);
    expect(await passwordWorks(AYU.email, AYU.password)).toBe(true);
    expect(await passwordWorks(AYU.email, NEW_PASSWORD)).toBe(false);
  });

  test('requesting a second link retires the first', async () => {
    const first = await resetLink(BUDI.email);
    const second = await resetLink(BUDI.email);
    expect(second).not.toBe(first);
    const opened = await new Agent(server.url).request(first);
    expect(opened.status).toBe(400);
    expect(await opened.text()).toContain(INVALID_HEADING);
    const posted = await postWithToken(new URL(first).searchParams.get('token')!, NEW_PASSWORD);
    expect(posted.status).toBe(400);
    expect(await passwordWorks(BUDI.email, BUDI.password)).toBe(true);

    expect((await submitNewPassword(second, NEW_PASSWORD)).status).toBe(200);
    expect(await passwordWorks(BUDI.email, NEW_PASSWORD)).toBe(true);
  });

  test('a login entered with the old password just before a reset cannot be finished after it', async () => {
    const client = await createWebClient(server.instance, { name: 'Layanan Izin', unit: 'dpmptsp' });
    const rp = await relyingParty(server.url, client.clientId, client.clientSecret);
    const intruder = new Agent(server.url);
    const { res, url } = await intruder.follow((await authorizationRequest(rp, { prompt: 'consent' })).url);
    const posted = await intruder.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: WATI.email, password: WATI.password });
    expect(posted.status).toBe(303);

    expect((await submitNewPassword(await resetLink(WATI.email), NEW_PASSWORD)).status).toBe(200);
    const after = await intruder.follow(posted.headers.get('location')!);
    expect(after.url).not.toMatch(/code=/);
    expect(await after.res!.text()).not.toContain('Berikan akses');
  });

  test('reset tokens are stored only as hashes: no token from a link is in any column', async () => {
    const links = [await resetLink(RINA.email), await resetLink(AYU.email)];
    const { rows } = await server.instance.db.query<{ row: string }>('select t::text as row from account_tokens t');
    const { rows: resets } = await server.instance.db.query<{ token_hash: string }>(
      "select token_hash from account_tokens where purpose = 'reset_password'",
    );
    expect(resets.length).toBeGreaterThanOrEqual(links.length);
    const dump = rows.map((r) => r.row).join('\n');
    for (const link of links) {
      const token = new URL(link).searchParams.get('token')!;
      expect(token.length).toBeGreaterThanOrEqual(43);
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(Buffer.from(token, 'base64url').toString('hex'));
      expect(resets.map((r) => r.token_hash)).not.toContain(token);
    }
  });
});

/** Citizens who reset by phone: an unverified email and a verified phone; a verified phone only. */
const LINA = { nik: '3571024506910002', name: 'Lina Marlina', birthdate: '1991-06-05', email: 'lina@example.id', phone: '+6281355500001', password: 'pisang-goreng-di-stasiun-kediri' };
const DEDI = { nik: '3571021009870001', name: 'Dedi Kurniawan', birthdate: '1987-09-10', phone: '+6281355500002', password: 'tahu-takwa-kuning-dari-kediri' };
const UNKNOWN_PHONE = '+6281355599999';

/** Asks for a reset code to this number (typed as given) from /lupa-sandi in this browser. */
async function requestPhoneReset(agent: Agent, phone: string, channel = 'whatsapp'): Promise<Response> {
  const _csrf = csrfTokenOf(await (await agent.request('/lupa-sandi')).text());
  return agent.post('/lupa-sandi', { _csrf, contact: phone, channel });
}

/** Posts a code on the reset code form of this browser. */
async function postResetCode(agent: Agent, code: string): Promise<Response> {
  const form = await agent.request('/lupa-sandi/kode');
  expect(form.status).toBe(200);
  return agent.post('/lupa-sandi/kode', { _csrf: csrfTokenOf(await form.text()), code });
}

const maskedOut = (html: string) => withoutCsrf(html).replace(/\+62813\*+\d{3}/g, 'PHONE');
const failuresOf = async (citizenId: string) =>
  (await server.instance.db.query<{ count: number }>('select count from throttle where key = $1', [`account:${citizenId}`])).rows[0]?.count ?? 0;

describe('password reset by phone (/lupa-sandi)', () => {
  beforeAll(async () => {
    for (const who of [LINA, DEDI]) {
      const citizen = await server.instance.citizens.create(who, { actor: 'test' });
      await server.instance.db.transaction(async (tx) => {
        expect(await server.instance.citizens.setVerifiedPhone(tx, citizen.id, who.phone)).toBe(true);
      });
    }
  });

  test('a known and an unknown number get the same answers; only the known one gets a message', async () => {
    const pages: string[] = [];
    for (const phone of [DEDI.phone, UNKNOWN_PHONE]) {
      const agent = new Agent(server.url);
      const asked = await requestPhoneReset(agent, phone, 'sms');
      expect(asked.status).toBe(303);
      expect(asked.headers.get('location')).toBe('/lupa-sandi/kode?dikirim=1');
      const form = await agent.request(asked.headers.get('location')!);
      expect(form.status).toBe(200);
      const wrong = await postResetCode(agent, '000000');
      expect(wrong.status).toBe(400);
      pages.push(maskedOut(await form.text()), maskedOut(await wrong.text()));
    }
    expect(pages[0]).toContain('Jika PHONE adalah nomor HP terverifikasi');
    expect(pages[2]).toBe(pages[0]);
    expect(pages[3]).toBe(pages[1]);
    expect(await messagesTo(server.instance.db, DEDI.phone)).toBe(1);
    expect(await messagesTo(server.instance.db, UNKNOWN_PHONE)).toBe(0);
    // Soon after, a second request waits for both numbers alike.
    for (const phone of [DEDI.phone, UNKNOWN_PHONE]) {
      const again = await requestPhoneReset(new Agent(server.url), phone);
      expect(again.status).toBe(303);
      expect(again.headers.get('location')).toMatch(/^\/lupa-sandi\/kode\?tunggu=\d+$/);
    }
  });

  test('a malformed number, or neither an email nor a number, is refused beside the field', async () => {
    for (const [contact, text] of [['0812', 'email atau nomor HP yang benar'], ['+1 202 555 0100', 'nomor HP Indonesia yang benar'], ['', 'Masukkan email atau nomor HP']] as const) {
      const res = await requestPhoneReset(new Agent(server.url), contact);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain('href="#contact"');
      expect(fieldError(html, 'contact')).toContain(text);
    }
  });

  test('the right code opens the new-password form; the new password works, the old one not, every session ends, and the email stays unverified', async () => {
    const { id: citizenId } = (await server.instance.citizens.findByVerifiedPhone(LINA.phone))!;
    // Before the reset: signed in with the number and password, a relying party holding tokens.
    const request = await authorizationRequest(rp, { scope: 'openid offline_access', prompt: 'consent' });
    const browser = new Agent(server.url);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(await signIn(browser, request.url, '0813 5550 0001', LINA.password)), request.checks);
    expect(tokens.refresh_token).toBeTruthy();

    const agent = new Agent(server.url);
    const asked = await requestPhoneReset(agent, '0813-5550-0001', 'sms');
    expect(asked.status).toBe(303);
    const code = await lastCodeTo(server.instance.db, LINA.phone);
    const opened = await postResetCode(agent, code);
    expect(opened.status).toBe(200);
    const html = await opened.text();
    expect(html).toContain('name="password"');
    expect(html).toContain(`name="username" value="${LINA.email}"`);
    const proof = /name="token" value="([^"]+)"/.exec(html)![1]!;
    expect(proof).toMatch(/^v1\./);
    // The code is spent.
    expect((await requestPhoneReset(new Agent(server.url), LINA.phone)).status).toBe(303);

    const mails = await emailsTo(server.instance.db, LINA.email);
    const done = await agent.post('/lupa-sandi/atur', { _csrf: csrfTokenOf(html), token: proof, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Kata sandi Anda sudah diubah');
    expect(await passwordWorks(LINA.phone, LINA.password)).toBe(false);
    expect(await passwordWorks(LINA.phone, NEW_PASSWORD)).toBe(true);

    // Every session and token ended; the citizen is told by email; the email is not verified by a phone code.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const again = await browser.follow((await authorizationRequest(rp, { scope: 'openid' })).url);
    expect(await again.res!.text()).toContain('name="password"');
    expect(await emailsTo(server.instance.db, LINA.email)).toBe(mails + 1);
    expect((await lastEmailTo(server.instance.db, LINA.email)).subject).toContain('Kata sandi Kediri ID Anda telah diubah');
    expect((await server.instance.citizens.findById(citizenId))!.email_verified).toBe(false);
    const audited = await server.instance.db.query<{ type: string; details: { via: string } }>(
      "select type, details from audit_events where citizen_id = $1 and type like 'password_reset.%' order by id",
      [citizenId],
    );
    expect(audited.rows).toEqual([
      { type: 'password_reset.requested', details: { via: 'sms' } },
      { type: 'password_reset.completed', details: { via: 'phone' } },
    ]);

    // The proof is single use; a proof that was not sealed by the server (its token alone) opens nothing.
    const reused = await agent.post('/lupa-sandi/atur', { _csrf: csrfTokenOf(html), token: proof, password: 'matahari-terbit-di-brantas', password_confirm: 'matahari-terbit-di-brantas' });
    expect(reused.status).toBe(400);
    expect(await reused.text()).toContain(INVALID_HEADING);
    const forged = await agent.post('/lupa-sandi/atur', { _csrf: csrfTokenOf(html), token: `${proof}x`, password: 'matahari-terbit-di-brantas', password_confirm: 'matahari-terbit-di-brantas' });
    expect(forged.status).toBe(400);
    expect(await passwordWorks(LINA.phone, NEW_PASSWORD)).toBe(true);
  });

  test('wrong codes are counted towards the account lock, as wrong passwords are; after five the code is dead', async () => {
    const { id } = (await server.instance.citizens.findByVerifiedPhone(DEDI.phone))!;
    await phoneCodesAge(server.instance.db, DEDI.phone, 3600);
    const agent = new Agent(server.url);
    expect((await requestPhoneReset(agent, DEDI.phone)).status).toBe(303);
    const code = await lastCodeTo(server.instance.db, DEDI.phone);
    const wrongCode = code === '123456' ? '654321' : '123456';
    const before = await failuresOf(id);
    for (let i = 1; i <= 5; i++) {
      const wrong = await postResetCode(agent, wrongCode);
      expect(wrong.status).toBe(400);
      expect(fieldError(await wrong.text(), 'code')).toContain('Kode salah atau sudah tidak berlaku');
      expect(await failuresOf(id)).toBe(before + i);
    }
    const dead = await postResetCode(agent, code);
    expect(dead.status).toBe(400);
    expect(await passwordWorks(DEDI.phone, DEDI.password)).toBe(true);
    const audited = await server.instance.db.query("select 1 from audit_events where type = 'password_reset.code_failed' and citizen_id = $1", [id]);
    expect(audited.rowCount).toBe(before + 6);
    // The same count a password login adds to.
    await server.instance.loginAttempts.password(DEDI.phone, 'bukan-kata-sandinya', { clientId: 'test', unit: undefined, ip: '127.0.0.1' });
    expect(await failuresOf(id)).toBe(before + 7);
  });
});
