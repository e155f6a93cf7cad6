import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK } from '../support/fixtures.js';
import { kediriId, processEnvironment, startServe } from '../support/process.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';
import { loadConfig } from '../../src/config.js';
import { createSealer, resolveEncryptionKey } from '../../src/secrets.js';

/**
 * The plaintext NIK is kept nowhere but in the citizen's own hands: a registration and a login
 * (one failed, with the NIK as identifier) through the real server process leave it out of the
 * log (at debug level) and out of every table. Embedded by default; on PostgreSQL when
 * DATABASE_URL is set.
 */
const WARGA = {
  nik: '3571034708950001',
  name: 'Rina Wati',
  birth_day: '7',
  birth_month: '8',
  birth_year: '1995',
  email: 'rina.wati@example.id',
  phone: '0812 3456 7890',
  password: 'layang-layang-di-sawah-kediri',
};

let setup: Awaited<ReturnType<typeof processEnvironment>>;
let env: Record<string, string>;
let issuer: string;

beforeAll(async () => {
  setup = await processEnvironment({ LOG_LEVEL: 'debug', DEV_MAIL: 'true' });
  ({ env, issuer } = setup);
});

afterAll(() => setup.cleanup());

/** Every row of every table of the public schema, as text, per table. */
async function dumpTables(): Promise<Record<string, string[]>> {
  return setup.withDatabase(async (db) => {
    const { rows: tables } = await db.query<{ name: string }>(
      "select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    );
    const dump: Record<string, string[]> = {};
    for (const { name } of tables) {
      const { rows } = await db.query<{ row: string }>(`select t::text as row from "${name}" t`);
      dump[name] = rows.map((r) => r.row);
    }
    return dump;
  });
}

/** The verification code of the newest verification email to this address, as /dev/mail shows it. */
async function codeFromDevMail(to: string): Promise<string> {
  const res = await new Agent(issuer).request('/dev/mail');
  expect(res.status).toBe(200);
  const html = await res.text();
  const message = html.split('<section').find((section) => section.includes(to) && section.includes('Verifikasi email'));
  if (!message) throw new Error(`/dev/mail shows no verification email to ${to}`);
  const body = /<pre class="pre">([\s\S]*?)<\/pre>/.exec(message)?.[1] ?? '';
  const code = /verifikasi: (\d{6})/.exec(body)?.[1];
  if (!code) throw new Error('the verification email has no code');
  return code;
}

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the plaintext NIK', () => {
  test('is absent from the log of a registration and a login, and from every table', async () => {
    const created = await kediriId(
      ['client', 'create', '--unit', 'dispendukcapil', '--name', 'Layanan Akta', '--redirect-uri', CALLBACK, '--scope', 'openid profile email'],
      env,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };

    const server = await startServe(env, { captureOutput: true });
    let sub = '';
    let code = '';
    try {
      // Registration over HTTP, then the email verified with the code from the outbox.
      const browser = new Agent(issuer);
      const form = await browser.request('/daftar');
      const registered = await browser.post('/daftar', { _csrf: csrfTokenOf(await form.text()), ...WARGA, password_confirm: WARGA.password, privacy: 'ya' });
      expect(registered.status).toBe(303);
      expect(registered.headers.get('location')).toBe('/verifikasi?dikirim=1');
      code = await codeFromDevMail(WARGA.email);
      const verifyPage = await browser.request('/verifikasi?dikirim=1');
      const verified = await browser.post('/verifikasi', { _csrf: csrfTokenOf(await verifyPage.text()), code });
      expect(verified.status).toBe(200);

      // A login through a real authorization request: first a wrong password with the NIK, then the right one.
      const rp = await relyingParty(issuer, client.client_id, client.client_secret);
      const request = await authorizationRequest(rp, { scope: 'openid profile email' });
      const { res, url } = await browser.follow(request.url);
      expect(url).toContain('/interaction/');
      const failed = await browser.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: WARGA.nik, password: 'bukan-kata-sandi-saya' });
      expect(failed.status).toBe(400);
      const callback = await signIn(browser, request.url, WARGA.nik, WARGA.password);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
      sub = tokens.claims()!.sub;
      const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, sub);
      expect(userinfo).toMatchObject({ name: WARGA.name, email: WARGA.email, email_verified: true });
      expect(JSON.stringify(userinfo)).not.toContain(WARGA.nik);

      // The sender writes the verification email to the log (no SMTP_URL) within a round or two.
      await until(() => server.stdout().includes('email (no SMTP_URL: written to the log)'), 'the email log line');
    } finally {
      await server.stop();
    }

    // The log is not vacuous: it is pino's JSON at debug level, and it saw the start and the registration's email.
    const log = server.stdout();
    const lines = log.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => l.msg)).toContain('Kediri ID is listening');
    const emailLine = lines.find((l) => l.msg === 'email (no SMTP_URL: written to the log)' && String(l.subject).includes('Verifikasi email'));
    expect(emailLine).toMatchObject({ to: 'r***@example.id' });
    expect(String(emailLine!.body)).toContain(WARGA.name);
    expect(String(emailLine!.body)).toContain(code);
    // ...and the NIK is in neither stream.
    expect(log).not.toContain(WARGA.nik);
    expect(server.stderr()).not.toContain(WARGA.nik);

    // The tables: the registration, the verification and the login are there, the NIK is not.
    const tables = await dumpTables();
    for (const name of ['citizens', 'audit_events', 'outbox', 'oidc_payloads', 'account_tokens']) {
      expect({ name, rows: tables[name]!.length > 0 }).toEqual({ name, rows: true });
    }
    expect(tables.citizens).toHaveLength(1);
    // The account that signed in: the unit's service knows it by its pairwise sub.
    const accountId = await setup.withDatabase(async (db) => (await db.query<{ id: string }>('select id from citizens')).rows[0]!.id);
    expect(sub).toBe(pairwiseSubject(createSealer(await resolveEncryptionKey(loadConfig(env))), 'dispendukcapil', accountId));
    const audit = tables.audit_events!.join('\n');
    for (const type of ['citizen.created', 'email.verified', 'login.failed', 'login.succeeded']) expect(audit).toContain(type);
    expect(tables.oidc_payloads!.join('\n')).toContain(accountId);
    for (const [name, rows] of Object.entries(tables)) {
      expect({ name, nik: rows.some((row) => row.includes(WARGA.nik)) }).toEqual({ name, nik: false });
    }
  }, 180_000);
});
