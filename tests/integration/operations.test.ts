import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import * as oidc from 'openid-client';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { value } from '../support/metrics.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

const onPostgres = process.env.DATABASE_URL ? test : test.skip;

describe('health, readiness and metrics', () => {
  let server: TestServer;
  let rp: oidc.Configuration;
  let client: { clientId: string; clientSecret: string };
  const metrics = () => server.instance.metrics.registry.metrics();

  beforeAll(async () => {
    server = await startTestServer({ LOCKOUT_FAILURES: '100', LOGIN_MAX_DELAY_SECONDS: '0' });
    await createCitizen(server.instance);
    client = await createWebClient(server.instance, { unit: 'samsat' });
    rp = await relyingParty(server.url, client.clientId, client.clientSecret);
  });
  afterAll(() => server?.close());

  test('healthz and readyz answer 200 when all is well', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ready' } });
  });

  /** /readyz once it answers `status` (it checks once a second at most), or its last answer after 3 s. */
  async function readyz(status: number) {
    const deadline = Date.now() + 3000;
    for (;;) {
      const res = await fetch(`${server.url}/readyz`);
      const answer = { status: res.status, body: (await res.json()) as unknown };
      if (answer.status === status || Date.now() > deadline) return answer;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test('readyz answers 503 and says why while a migration of this version is not applied', async () => {
    const db = server.testDb.db;
    await db.query("delete from schema_migrations where name = '013_client_changes.sql'");
    try {
      expect(await readyz(503)).toEqual({ status: 503, body: { status: 'not ready', problems: ['migrations not applied: 013_client_changes.sql'] } });
    } finally {
      await db.query("insert into schema_migrations (name) values ('013_client_changes.sql')");
    }
    expect((await readyz(200)).status).toBe(200);
  });

  test('logins by result and unit, tokens by grant type, requests by route pattern and security events are counted', async () => {
    const before = await metrics();
    const count = (text: string, sample: string) => value(text, sample) ?? 0;
    await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid' });
    await expect(signInAndExchange(rp, SITI.email, 'bukan-kata-sandinya', { scope: 'openid' })).rejects.toThrow('login answered 400');
    await oidc.clientCredentialsGrant(rp);
    const after = await metrics();

    for (const [sample, added] of [
      ['kediri_logins_total{result="succeeded",unit="samsat"}', 1],
      ['kediri_logins_total{result="failed",unit="samsat"}', 1],
      ['kediri_tokens_issued_total{grant_type="authorization_code"}', 1],
      ['kediri_tokens_issued_total{grant_type="client_credentials"}', 1],
      ['kediri_security_events_total{type="login.failed"}', 1],
      ['kediri_http_requests_total{route="/token",method="POST",status="200"}', 2],
      ['kediri_http_requests_total{route="/interaction/:uid/login",method="POST",status="400"}', 1],
    ] as const) {
      expect({ sample, added: count(after, sample) - count(before, sample) }).toEqual({ sample, added });
    }
    expect(value(after, 'kediri_active_sessions')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'kediri_email_outbox_backlog')).toBeGreaterThanOrEqual(0);
    // The driver's count of statements (the benchmark's statements per operation): two logins, a
    // code exchange and a client-credentials token took some, but not dozens per request.
    const statements = count(after, 'kediri_db_statements_total') - count(before, 'kediri_db_statements_total');
    expect(statements).toBeGreaterThan(10);
    expect(statements).toBeLessThan(80);
    expect(after).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    // Labels are patterns and names, never what a person typed or holds.
    for (const secret of [SITI.email, SITI.nik, SITI.password, 'bukan-kata-sandinya']) expect(after).not.toContain(secret);
    expect(after).not.toMatch(/\/interaction\/[A-Za-z0-9_-]{20,}/);
  });

  test('refusals of the brute-force defence are counted by what was limited', async () => {
    const sample = 'kediri_throttled_total{limit="ip_code"}';
    const before = value(await metrics(), sample) ?? 0;
    let refusals = 0;
    for (let i = 0; refusals < 2 && i < 1000; i++) {
      if (!(await server.instance.throttle.ipAttempt('code', '203.0.113.9')).allowed) refusals++;
    }
    expect(refusals).toBe(2);
    expect(value(await metrics(), sample)).toBe(before + 2);
  });

  test('metrics are not on the public port', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });

  onPostgres('while PostgreSQL refuses connections readyz answers 503 within seconds, and ready again once it is back', async () => {
    const name = new URL(server.testDb.url!).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`alter database ${name} allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      const started = Date.now();
      expect(await readyz(503)).toEqual({ status: 503, body: { status: 'not ready', problems: ['database unavailable'] } });
      expect(Date.now() - started).toBeLessThan(10_000);
      // The provider's endpoints say so too (503, never 500): JSON for clients, a page for people.
      const token = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&refresh_token=abc',
      });
      expect({ status: token.status, retryAfter: token.headers.get('retry-after'), body: await token.json() }).toEqual({
        status: 503, retryAfter: '5', body: { error: 'temporarily_unavailable', error_description: expect.any(String) },
      });
      const { url } = await authorizationRequest(rp);
      for (const clientId of [client.clientId, 'a-client-not-in-memory']) {
        const page = await fetch(url.replace(client.clientId, clientId), { headers: { accept: 'text/html' }, redirect: 'manual' });
        expect({ clientId, status: page.status, retryAfter: page.headers.get('retry-after'), text: (await page.text()).includes('Coba lagi') }).toEqual({
          clientId, status: 503, retryAfter: '5', text: true,
        });
      }
    } finally {
      await admin.query(`alter database ${name} allow_connections true`);
      await admin.end();
    }
    expect((await readyz(200)).status).toBe(200);
  });
});
