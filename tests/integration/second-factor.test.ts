import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createWebClient } from '../support/fixtures.js';
import { emailsTo } from '../support/mail.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MFA = 'urn:kediri:acr:verified-mfa';
const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };

let server: TestServer;
let rp: oidc.Configuration;
let secret: string;
let recoveryCodes: string[];
let lastStep = 0;
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

/** A fresh TOTP code from a time step not used before (the server accepts one step of drift). */
async function freshCode(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const step = Math.max(Math.floor(now / 30), lastStep + 1);
  lastStep = step;
  return generate({ secret, epoch: step * 30 });
}

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

    const wrong = await agent.post('/akun/dua-langkah', { _csrf, password: SITI.password, code: '000000' === (await generate({ secret })) ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    // Without the account's password no factor is added, even with a right code.
    const noPassword = await agent.post('/akun/dua-langkah', { _csrf, password: 'bukan-kata-sandinya', code: await generate({ secret }) });
    expect(noPassword.status).toBe(400);
    expect(await server.instance.secondFactors.hasTotp((await server.instance.citizens.findByEmail(SITI.email))!.id)).toBe(false);
    const done = await agent.post('/akun/dua-langkah', { _csrf, password: SITI.password, code: await freshCode() });
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
    expect(html).toContain('Masukkan Kode OTP');
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
    expect(await posted.text()).toContain('verifikasi dua langkah');
  });

  test('the second-factor step cannot be reached without the password step', async () => {
    const agent = new Agent(server.url);
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    const res2 = await agent.post(`${url}/otp`, { _csrf: csrfTokenOf(await res!.text()), code: await freshCode() });
    expect(res2.status).toBe(400);
  });

  test('wrong codes count towards the lockout even when the password is right each time', async () => {
    const id = (await server.instance.citizens.findByEmail(SITI.email))!.id;
    const failures = async () =>
      (await server.instance.db.query<{ count: number }>('select count from throttle where key = $1', [`account:${id}`])).rows[0]?.count ?? 0;
    const before = await failures();
    for (let i = 0; i < 3; i++) {
      const { agent, posted, url } = await passwordStep(SITI);
      const wrong = await agent.post(`${url}/otp`, { _csrf: csrfTokenOf(await posted.text()), code: '000001' });
      expect(wrong.status).toBe(400);
    }
    expect(await failures()).toBe(before + 3);
    const audited = await server.instance.db.query("select 1 from audit_events where type = 'login.second_factor_failed' and citizen_id = $1", [id]);
    expect(audited.rowCount).toBeGreaterThanOrEqual(3);
  });
});
