import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DEFAULT_THROTTLE } from '../../src/config.js';
import { createThrottle } from '../../src/identity/throttle.js';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { emailsTo } from '../support/mail.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('the throttle counters', () => {
  let testDb: TestDb;
  beforeAll(async () => {
    testDb = await createTestDb();
  });
  afterAll(() => testDb.drop());

  test('growing waits after the third failure, a lock at the tenth, forgotten after a success', async () => {
    const throttle = createThrottle(testDb.db, DEFAULT_THROTTLE);
    const waitSet = async () =>
      Number((await testDb.db.query<{ wait: number }>(
        "select coalesce(ceil(extract(epoch from blocked_until - now())), 0)::int as wait from throttle where key = 'account:a1'",
      )).rows[0]!.wait);
    const waits: number[] = [];
    for (let failure = 1; failure <= 10; failure++) {
      // (The person waits out each pause.)
      await testDb.db.query("update throttle set blocked_until = null where key = 'account:a1'");
      expect(await throttle.accountAttempt('a1')).toEqual({ allowed: true });
      expect(await throttle.accountFailed('a1')).toBe(failure === 10);
      waits.push(await waitSet());
    }
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    expect(waits.slice(3, 9)).toEqual([1, 2, 4, 8, 16, 30]);
    expect(waits[9]).toBeGreaterThan(14 * 60);
    expect(await throttle.accountAttempt('a1')).toMatchObject({ allowed: false, locked: true });
    await throttle.accountSucceeded('a1');
    expect(await throttle.accountAttempt('a1')).toEqual({ allowed: true });
  });

  test('parallel attempts are counted before they are checked: a burst gets no more than the lockout allows', async () => {
    const throttle = createThrottle(testDb.db, DEFAULT_THROTTLE);
    const verdicts = await Promise.all(Array.from({ length: 30 }, () => throttle.accountAttempt('burst')));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(DEFAULT_THROTTLE.lockoutFailures);
  });

  test('per-address limits count attempts in a window, per action', async () => {
    const throttle = createThrottle(testDb.db, { ...DEFAULT_THROTTLE, ipLimits: { login: 2, register: 1, reset: 1, code: 1, message: 1 } });
    expect((await throttle.ipAttempt('login', '10.0.0.1')).allowed).toBe(true);
    expect((await throttle.ipAttempt('login', '10.0.0.1')).allowed).toBe(true);
    expect(await throttle.ipAttempt('login', '10.0.0.1')).toMatchObject({ allowed: false, locked: false });
    expect((await throttle.ipAttempt('login', '10.0.0.2')).allowed).toBe(true);
    expect((await throttle.ipAttempt('register', '10.0.0.1')).allowed).toBe(true);
    // A window that is over starts again.
    await testDb.db.query("update throttle set window_start = now() - interval '16 minutes' where key = 'ip:login:10.0.0.1'");
    expect((await throttle.ipAttempt('login', '10.0.0.1')).allowed).toBe(true);
  });

  test('an attempt on an account from an address is counted against both in one statement; past the address limit the account is not counted', async () => {
    const throttle = createThrottle(testDb.db, { ...DEFAULT_THROTTLE, ipLimits: { login: 2, register: 1, reset: 1, code: 1, message: 1 } });
    const accountCount = async () => (await testDb.db.query<{ count: number }>("select count from throttle where key = 'account:both'")).rows[0]?.count;
    expect(await throttle.attempt('login', '10.0.1.1', 'both')).toEqual({ allowed: true });
    expect(await throttle.attempt('login', '10.0.1.1', 'both')).toEqual({ allowed: true });
    expect(await accountCount()).toBe(2);
    // The address is over its limit: refused as the address's, and the account's count stays.
    expect(await throttle.attempt('login', '10.0.1.1', 'both')).toMatchObject({ allowed: false, locked: false });
    expect(await accountCount()).toBe(2);
    // From another address the account counts on, up to its own lock.
    for (let i = 3; i <= DEFAULT_THROTTLE.lockoutFailures; i++) expect(await throttle.attempt('login', `10.0.2.${i}`, 'both')).toEqual({ allowed: true });
    expect(await throttle.attempt('login', '10.0.3.1', 'both')).toMatchObject({ allowed: false, locked: true });
  });

  test('an IPv6 client counts by its /64 network, and an IPv4-mapped address as its IPv4 address', async () => {
    const throttle = createThrottle(testDb.db, { ...DEFAULT_THROTTLE, ipLimits: { login: 2, register: 1, reset: 1, code: 1, message: 1 } });
    expect((await throttle.ipAttempt('login', '2001:db8:1:2::1')).allowed).toBe(true);
    expect((await throttle.ipAttempt('login', '2001:db8:1:2:dead:beef:0:7')).allowed).toBe(true);
    expect(await throttle.ipAttempt('login', '2001:0db8:0001:0002:ffff:ffff:ffff:fffe')).toMatchObject({ allowed: false, locked: false });
    expect((await throttle.ipAttempt('login', '2001:db8:1:3::1')).allowed).toBe(true);

    expect((await throttle.ipAttempt('login', '192.0.2.9')).allowed).toBe(true);
    expect((await throttle.ipAttempt('login', '::ffff:192.0.2.9')).allowed).toBe(true);
    expect(await throttle.ipAttempt('login', '::ffff:c000:209')).toMatchObject({ allowed: false });
    expect((await throttle.ipAttempt('login', '::ffff:192.0.2.10')).allowed).toBe(true);
  });
});

describe('login brute-force defence over HTTP', () => {
  let server: TestServer;
  let clientId: string;
  let clientSecret: string;
  beforeAll(async () => {
    server = await startTestServer({ LOCKOUT_FAILURES: '4', LOGIN_MAX_DELAY_SECONDS: '0', IP_LIMIT_REGISTER: '2' });
    await createCitizen(server.instance);
    ({ clientId, clientSecret } = await createWebClient(server.instance));
  });
  afterAll(() => server.close());

  async function attempt(identifier: string, password: string) {
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const agent = new Agent(server.url);
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    const posted = await agent.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier, password });
    const summary = /<div class="error-summary"[\s\S]*?<\/div>/.exec(await posted.text())?.[0] ?? '';
    return { status: posted.status, summary, retryAfter: posted.headers.get('retry-after') };
  }

  test('repeated wrong passwords lock the account; the right password is refused while locked; the citizen is emailed', async () => {
    const mails = await emailsTo(server.instance.db, SITI.email);
    for (let i = 0; i < 4; i++) expect((await attempt(SITI.email, `salah-${i}-kata-sandi`)).status).toBe(400);
    const locked = await attempt(SITI.nik, SITI.password);
    expect(locked.status).toBe(429);
    expect(locked.summary).toContain('dikunci sementara');
    expect(Number(locked.retryAfter)).toBeGreaterThan(60);
    expect(await emailsTo(server.instance.db, SITI.email)).toBe(mails + 1);
    const audited = await server.instance.db.query("select 1 from audit_events where type = 'account.locked'");
    expect(audited.rowCount).toBe(1);

    // When the lock is over the right password works again, and the count starts afresh.
    await server.instance.db.query("update throttle set blocked_until = now() - interval '1 second', locked_until = now() - interval '1 second' where key like 'account:%'");
    expect((await attempt(SITI.email, SITI.password)).status).toBe(303);
    expect((await attempt(SITI.email, 'salah-lagi-kata-sandi')).status).toBe(400);
  });

  test('an unknown account gets exactly the same answers, lock included', async () => {
    const known = [];
    const unknown = [];
    const other = { ...SITI, nik: '3571014101900002', email: 'siti2@example.id' };
    await createCitizen(server.instance, other);
    for (let i = 0; i < 5; i++) {
      known.push(await attempt(other.email, `salah-${i}-kata-sandi`));
      unknown.push(await attempt('tidak-ada@example.id', `salah-${i}-kata-sandi`));
    }
    expect(unknown.map((a) => [a.status, a.summary])).toEqual(known.map((a) => [a.status, a.summary]));
    expect(known.map((a) => a.status)).toEqual([400, 400, 400, 400, 429]);
  });

  test('registrations from one address are limited', async () => {
    const agent = new Agent(server.url);
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const _csrf = csrfTokenOf(await (await agent.request('/daftar')).text());
      const res = await agent.post('/daftar', { _csrf, nik: 'x' });
      statuses.push(res.status);
      if (res.status === 429) expect(await res.text()).toContain('Terlalu banyak percobaan');
    }
    expect(statuses).toEqual([400, 400, 429]);
  });
});
