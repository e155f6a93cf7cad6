import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createWebClient, totpCode } from '../support/fixtures.js';
import { emailsTo } from '../support/mail.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MFA = 'urn:kediri:acr:verified-mfa';
const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };

let server: TestServer;
let rp: oidc.Configuration;
let secret: string;
let recoveryCodes: string[];
let lastAcceptedCode: string;

beforeAll(async () => {
  server = await startTestServer();
  for (const citizen of [SITI, BUDI]) {
    await server.instance.citizens.create(citizen, { actor: 'test', emailVerified: true, identityVerifiedBy: 'operator' });
  }
  const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Bank Jatim Online', unit: 'bank-jatim' });
  rp = await relyingParty(server.url, clientId, clientSecret);
});
afterAll(() => server.close());

/** A fresh TOTP code of the enrolled app (tests/support/fixtures.ts totpCode: each time step once). */
const freshCode = () => totpCode(secret);
/** A code as authenticator apps show it: "123 456" (or with another separator). */
const spaced = (code: string, separator = ' ') => `${code.slice(0, 3)}${separator}${code.slice(3)}`;

/** The failures counted towards the lock of this account (the throttle's count). */
const failuresOf = async (citizenId: string) =>
  (await server.instance.db.query<{ count: number }>('select count from throttle where key = $1', [`account:${citizenId}`])).rows[0]?.count ?? 0;
/** How many second steps of this account were audited as failed. */
const secondFactorFailuresOf = async (citizenId: string) =>
  (await server.instance.db.query("select 1 from audit_events where type = 'login.second_factor_failed' and citizen_id = $1", [citizenId])).rowCount;

/** Password step of a login at a relying party; returns the browser, the page that follows and its URL. */
async function passwordStep(who: { email: string; password: string }, params: Record<string, string> = {}) {
  const request = await authorizationRequest(rp, { prompt: 'consent', ...params });
  const agent = new Agent(server.url);
  const { res, url } = await agent.follow(request.url);
  const posted = await agent.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: who.email, password: who.password });
  return { agent, posted, url, request };
}

describe('two-step verification', () => {
  test('enrolment from the account page: QR code and secret, confirmed by a first code, then ten recovery codes', async () => {
    const agent = new Agent(server.url);
    const start = await agent.request('/akun/dua-langkah');
    const { res } = await agent.follow(await signIn(agent, start.headers.get('location')!, SITI.email, SITI.password));
    const html = await res!.text();
    expect(html).toContain('<svg');
    secret = /id="secret">([^<]+)</.exec(html)![1]!.replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    const _csrf = csrfTokenOf(html);

    // The code the app shows now, by the server's clock.
    const shown = () => generate({ secret, epoch: Math.floor(server.clock.now() / 1000) });
    const wrong = await agent.post('/akun/dua-langkah', { _csrf, password: SITI.password, code: '000000' === (await shown()) ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    // Without the account's password no factor is added, even with a right code.
    const noPassword = await agent.post('/akun/dua-langkah', { _csrf, password: 'bukan-kata-sandinya', code: await shown() });
    expect(noPassword.status).toBe(400);
    // A code that is not six digits is told so.
    for (const code of ['12345', 'abcdef']) {
      const malformed = await agent.post('/akun/dua-langkah', { _csrf, password: SITI.password, code });
      expect(malformed.status).toBe(400);
      expect(await malformed.text()).toContain('Kode harus 6 angka.');
    }
    expect(await server.instance.secondFactors.summary((await server.instance.citizens.findByEmail(SITI.email))!.id)).toMatchObject({ totp: false });
    // The code as the app shows it, with a space.
    const done = await agent.post('/akun/dua-langkah', { _csrf, password: SITI.password, code: spaced(await freshCode()) });
    expect(done.status).toBe(200);
    const page = await done.text();
    recoveryCodes = [...page.matchAll(/<li><code>([A-Z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    // Stored sealed and hashed only.
    const dump = JSON.stringify((await server.instance.db.query('select t.*, r.* from totp_factors t, recovery_codes r')).rows);
    expect(dump).not.toContain(secret);
    for (const code of recoveryCodes) expect(dump).not.toContain(code);
  });

  test('a login then asks for the code; a relying party asking for verified-mfa gets acr and amr that prove it', async () => {
    const { agent, posted, url, request } = await passwordStep(SITI, { acr_values: MFA });
    expect(posted.status).toBe(200);
    const html = await posted.text();
    expect(html).toContain('Masukkan kode dari aplikasi autentikator');
    const _csrf = csrfTokenOf(html);
    expect((await agent.post(`${url}/otp`, { _csrf, code: '12345' })).status).toBe(400);
    lastAcceptedCode = await freshCode();
    const ok = await agent.post(`${url}/otp`, { _csrf, code: lastAcceptedCode });
    expect(ok.status).toBe(303);
    const callback = await signIn(agent, ok.headers.get('location')!, SITI.email, SITI.password);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
    expect(tokens.claims()).toMatchObject({ acr: MFA, amr: ['pwd', 'otp'] });
  });

  test('a code is accepted once: the same code in the next login is refused', async () => {
    const second = await passwordStep(SITI);
    const replay = await second.agent.post(`${second.url}/otp`, { _csrf: csrfTokenOf(await second.posted.text()), code: lastAcceptedCode });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('sudah dipakai');
  });

  test('a code typed as the app shows it, "123 456", or as "123-456", signs in', async () => {
    for (const separator of [' ', '-']) {
      const { agent, posted, url } = await passwordStep(SITI);
      const typed = await agent.post(`${url}/otp`, { _csrf: csrfTokenOf(await posted.text()), code: spaced(await freshCode(), separator) });
      expect(typed.status).toBe(303);
    }
  });

  test('a malformed code ("12345", "abcdef") is told what a code looks like and is no failed sign-in; a well-formed wrong code still is', async () => {
    const id = (await server.instance.citizens.findByEmail(SITI.email))!.id;
    const { agent, posted, url } = await passwordStep(SITI);
    const _csrf = csrfTokenOf(await posted.text());
    const [failures, audited] = [await failuresOf(id), await secondFactorFailuresOf(id)];
    // More malformed codes than the wrong ones that lock the account (LOCKOUT_FAILURES, 10).
    for (let i = 0; i < 12; i++) {
      const malformed = await agent.post(`${url}/otp`, { _csrf, code: i % 2 === 0 ? '12345' : 'abcdef' });
      expect(malformed.status).toBe(400);
      expect(await malformed.text()).toContain('Kode harus 6 angka');
    }
    expect(await failuresOf(id)).toBe(failures);
    expect(await secondFactorFailuresOf(id)).toBe(audited);
    // A well-formed wrong code counts, once.
    const wrong = await agent.post(`${url}/otp`, { _csrf, code: '000001' });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('Kode salah');
    expect(await failuresOf(id)).toBe(failures + 1);
    expect(await secondFactorFailuresOf(id)).toBe(audited + 1);
    // Not locked: the right code still signs in.
    expect((await agent.post(`${url}/otp`, { _csrf, code: await freshCode() })).status).toBe(303);
  });

  test('a recovery code works once, is audited and emailed; the second use fails', async () => {
    const mails = await emailsTo(server.instance.db, SITI.email);
    const code = recoveryCodes[0]!.toLowerCase().replace('-', ' ');
    const first = await passwordStep(SITI, { acr_values: MFA });
    const used = await first.agent.post(`${first.url}/otp`, { _csrf: csrfTokenOf(await first.posted.text()), code });
    expect(used.status).toBe(303);
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mails + 1);
    const audited = await server.instance.db.query("select details from audit_events where type = 'recovery_code.used'");
    expect(audited.rows[0]).toMatchObject({ details: { left: 9 } });
    const again = await passwordStep(SITI);
    expect((await again.agent.post(`${again.url}/otp`, { _csrf: csrfTokenOf(await again.posted.text()), code })).status).toBe(400);
  });

  test('an account without a second factor asked for verified-mfa is told how to turn it on', async () => {
    const { posted } = await passwordStep(BUDI, { acr_values: MFA });
    expect(posted.status).toBe(403);
    const html = await posted.text();
    expect(html).toContain('verifikasi dua langkah');
    expect(html).toContain('<a class="button button--secondary" href="/akun#dua-langkah">Atur verifikasi dua langkah di halaman akun</a>');
  });

  test('the second-factor step cannot be reached without the password step', async () => {
    const agent = new Agent(server.url);
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    const res2 = await agent.post(`${url}/otp`, { _csrf: csrfTokenOf(await res!.text()), code: await freshCode() });
    expect(res2.status).toBe(400);
  });

  test('wrong codes count towards the lockout even when the password is right each time', async () => {
    const id = (await server.instance.citizens.findByEmail(SITI.email))!.id;
    const failures = () => failuresOf(id);
    const before = await failures();
    for (let i = 0; i < 3; i++) {
      const { agent, posted, url } = await passwordStep(SITI);
      const wrong = await agent.post(`${url}/otp`, { _csrf: csrfTokenOf(await posted.text()), code: '000001' });
      expect(wrong.status).toBe(400);
    }
    expect(await failures()).toBe(before + 3);
    expect(await secondFactorFailuresOf(id)).toBeGreaterThanOrEqual(3);
  });
});

describe('managing the second factors on the account page', () => {
  let citizenId: string;
  let account: Agent;
  /** The account page's CSRF token for this browser. */
  let _csrf: string;

  const factors = () => server.instance.secondFactors.summary(citizenId);
  const audited = async (type: string) =>
    (await server.instance.db.query('select 1 from audit_events where type = $1 and citizen_id = $2', [type, citizenId])).rowCount;

  beforeAll(async () => {
    citizenId = (await server.instance.citizens.findByEmail(SITI.email))!.id;
    // The failures of the lockout test are forgotten, as they would be after the failure window.
    await server.instance.db.query('delete from throttle where key = $1', [`account:${citizenId}`]);
    // Signed in to /akun with the password and a code from the app.
    account = new Agent(server.url);
    const { res, url } = await account.follow((await account.request('/akun')).headers.get('location')!);
    const login = await account.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: SITI.email, password: SITI.password });
    const otp = await account.post(`${url}/otp`, { _csrf: csrfTokenOf(await login.text()), code: await freshCode() });
    expect(otp.status).toBe(303);
    const page = await account.follow(otp.headers.get('location')!);
    expect(new URL(page.url).pathname).toBe('/akun');
    _csrf = csrfTokenOf(await page.res!.text());
  }, 60_000);

  test('new recovery codes need the password, replace the old ones (an old one is refused at login) and are emailed', async () => {
    const before = await factors();
    expect((await account.post('/akun/kode-pemulihan', { _csrf, password: 'bukan-kata-sandinya' })).status).toBe(400);
    expect(await factors()).toEqual(before);

    const mails = await emailsTo(server.instance.db, SITI.email);
    const renewed = await account.post('/akun/kode-pemulihan', { _csrf, password: SITI.password });
    expect(renewed.status).toBe(200);
    const codes = [...(await renewed.text()).matchAll(/<li><code>([A-Z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    expect(codes).not.toContain(recoveryCodes[5]);
    expect(await factors()).toMatchObject({ recoveryCodesLeft: 10 });
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mails + 1);
    expect(await audited('recovery_codes.renewed')).toBe(1);

    const old = await passwordStep(SITI);
    expect((await old.agent.post(`${old.url}/otp`, { _csrf: csrfTokenOf(await old.posted.text()), code: recoveryCodes[5]! })).status).toBe(400);
  });

  test('bad passkey input is a 400 that stores nothing: an answer that is not a WebAuthn answer, an unknown passkey to rename or remove', async () => {
    const garbage = await account.post('/akun/kunci-sandi', { _csrf, name: 'Ponsel', password: SITI.password, credential: '{"id":"x","type":"public-key"' });
    expect(garbage.status).toBe(400);
    expect(await garbage.text()).toContain('Kunci sandi tidak dibuat.');
    const forged = await account.post('/akun/kunci-sandi', {
      _csrf,
      name: 'Ponsel',
      password: SITI.password,
      credential: JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'oA' } }),
    });
    expect(forged.status).toBe(400);
    expect(await factors()).toMatchObject({ passkeys: 0 });
    expect((await account.post('/akun/kunci-sandi/nama', { _csrf, id: 'AAAA', name: 'Laptop' })).status).toBe(400);
    expect((await account.post('/akun/faktor/hapus', { _csrf, factor: 'AAAA', password: SITI.password })).status).toBe(400);
    expect((await account.request('/akun/faktor/hapus?faktor=AAAA')).status).toBe(400);
  });

  test('at login, a passkey answer for an account without passkeys is refused and counted as a failure', async () => {
    const { agent, posted, url } = await passwordStep(SITI);
    const html = await posted.text();
    expect(html).not.toContain('data-passkey');
    const answer = await agent.post(`${url}/passkey`, { _csrf: csrfTokenOf(html), credential: 'not json' });
    expect(answer.status).toBe(400);
    expect(await answer.text()).toContain('Kode salah');
  });

  test('removing the authenticator app needs the password and a valid form; then a login asks for no code and the app can be enrolled again', async () => {
    const confirm = await account.request('/akun/faktor/hapus?faktor=totp');
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain('Hapus Aplikasi autentikator?');
    expect((await account.post('/akun/faktor/hapus', { _csrf, factor: 'totp', password: 'bukan-kata-sandinya' })).status).toBe(400);
    expect((await account.post('/akun/faktor/hapus', { _csrf: `${_csrf.slice(0, -2)}xx`, factor: 'totp', password: SITI.password })).status).toBe(403);
    expect(await factors()).toMatchObject({ totp: true });

    const mails = await emailsTo(server.instance.db, SITI.email);
    const removed = await account.post('/akun/faktor/hapus', { _csrf, factor: 'totp', password: SITI.password });
    expect(removed.status).toBe(303);
    expect(removed.headers.get('location')).toBe('/akun?faktor=1');
    // The last factor took the recovery codes with it.
    expect(await factors()).toEqual({ totp: false, passkeys: 0, recoveryCodesLeft: 0 });
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mails + 1);
    expect(await audited('factor.removed')).toBe(1);

    const login = await passwordStep(SITI);
    expect(login.posted.status).toBe(303);

    const again = await account.request('/akun/dua-langkah');
    expect(again.status).toBe(200);
    const newSecret = /id="secret">([^<]+)</.exec(await again.text())![1]!.replace(/\s/g, '');
    expect(newSecret).not.toBe(secret);
  });
});
