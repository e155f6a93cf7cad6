import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { emailedTokensAge, emailsTo, lastEmailTo } from '../support/mail.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

let server: TestServer;
let rp: oidc.Configuration;

beforeAll(async () => {
  // This file asks for many reset links from one address.
  server = await startTestServer({ IP_LIMIT_RESET: '1000' });
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
  return agent.post('/lupa-sandi', { _csrf, email });
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
    expect(html).toContain('href="#email"');
    expect(fieldError(html, 'email')).toContain('alamat email yang benar');
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
    expect(await done.text()).toContain('Kata sandi Anda sudah diubah');

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
