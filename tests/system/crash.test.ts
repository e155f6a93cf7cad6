import { afterEach, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import * as oidc from 'openid-client';
import type { Db } from '../../src/db/db.js';
import { seededCitizen } from '../../src/identity/seed.js';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { SITI } from '../support/fixtures.js';
import { createClientByCli, createSitiByCli, processEnvironment, startServe, type Served } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';

/**
 * kill -9 during logins and registrations. On PostgreSQL, WORKERS=2: one server process is killed
 * and the other carries on while the supervisor replaces it. On the embedded database the only
 * server is killed and started again on its data directory. Either way: every registration that
 * was answered is there, whole; no account is half-written; every refresh token a client got
 * still works.
 */
const onPostgres = Boolean(process.env.DATABASE_URL);
const PASSWORD = 'kembang-api-di-alun-alun';
const LIMITS = { IP_LIMIT_LOGIN: '100000', IP_LIMIT_REGISTER: '100000', LOGIN_MAX_DELAY_SECONDS: '0', LOCKOUT_FAILURES: '100' };

interface Outcome {
  kind: 'register' | 'login';
  startedAt: number;
  ok: boolean;
  email?: string;
  refreshToken?: string;
}

const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers citizen i through /daftar as a browser does; ok when the server answered with its redirect. */
async function register(issuer: string, i: number): Promise<Outcome> {
  const person = seededCitizen(i);
  const [year, month, day] = person.birthdate.split('-');
  const email = `daftar${i}@kediri.example.id`;
  const startedAt = Date.now();
  try {
    const agent = new Agent(issuer);
    const _csrf = csrfTokenOf(await (await agent.request('/daftar')).text());
    const res = await agent.post('/daftar', {
      // A name of letters only, as on a KTP-el: 'Warga Bcd' for 123.
      _csrf, nik: person.nik, name: `Warga ${[...String(i)].map((d) => 'abcdefghij'[Number(d)]).join('')}`, birth_day: String(Number(day)), birth_month: String(Number(month)), birth_year: year!,
      email, phone: '', password: PASSWORD, password_confirm: PASSWORD, privacy: 'ya',
    });
    return { kind: 'register', startedAt, ok: res.status === 303, email };
  } catch {
    return { kind: 'register', startedAt, ok: false, email };
  }
}

async function login(rp: oidc.Configuration): Promise<Outcome> {
  const startedAt = Date.now();
  try {
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid offline_access', prompt: 'consent' });
    return { kind: 'login', startedAt, ok: Boolean(tokens.refresh_token), refreshToken: tokens.refresh_token };
  } catch {
    return { kind: 'login', startedAt, ok: false };
  }
}

/** Two browsers registering and two signing in, again and again, until stop() is called. */
function startLoad(issuer: string, rp: oidc.Configuration) {
  const outcomes: Outcome[] = [];
  let running = true;
  let next = 0;
  const loop = async (op: () => Promise<Outcome>) => {
    while (running) outcomes.push(await op());
  };
  const loops = [
    loop(() => register(issuer, next++)),
    loop(() => register(issuer, next++)),
    loop(() => login(rp)),
    loop(() => login(rp)),
  ];
  return {
    outcomes,
    /** Until a few of each kind have succeeded: then a kill catches both in flight. */
    warmedUp: () => ['register', 'login'].every((kind) => outcomes.filter((o) => o.kind === kind && o.ok).length >= 3),
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(50);
  }
}

/**
 * Accounts that are not whole: each registered one needs its creation in the audit log, its
 * verification token and its verification email, written in one transaction with it.
 */
async function halfWrittenAccounts(db: Db): Promise<unknown[]> {
  const { rows } = await db.query<{ email: string; created_events: number; tokens: number; emails: number; complete: boolean }>(
    `select c.email,
       (select count(*)::int from audit_events a where a.citizen_id = c.id and a.type = 'citizen.created') as created_events,
       (select count(*)::int from account_tokens t where t.citizen_id = c.id and t.purpose = 'verify_email') as tokens,
       (select count(*)::int from outbox o where o.to_address = c.email) as emails,
       c.password_hash is not null and c.nik_enc is not null and c.nik_hash is not null as complete
     from citizens c where c.email like 'daftar%'`,
  );
  const orphans = await db.query(
    `select id from audit_events where type = 'citizen.created' and citizen_id not in (select id from citizens)`,
  );
  return [
    ...rows.filter((r) => !(r.created_events === 1 && r.tokens === 1 && r.emails >= 1 && r.complete)),
    ...orphans.rows.map((r) => ({ orphanAuditEvent: r.id })),
  ];
}

/** Starts the server once the killed one's lock on the data directory has gone stale (10 s). */
async function startWhenLockIsStale(env: Record<string, string>): Promise<Served> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startServe(env);
    } catch (error) {
      if (attempt === 15 || !String(error).includes('in use by another process')) throw error;
      await sleep(1_000);
    }
  }
}

/** Prints what the load saw, and checks that the database holds every answered registration whole. */
async function checkDatabase(label: string, outcomes: Outcome[], killedAt: number, db: Db) {
  const registered = outcomes.filter((o) => o.kind === 'register' && o.ok).map((o) => o.email!);
  const attempted = new Set(outcomes.filter((o) => o.kind === 'register').map((o) => o.email!));
  const failed = outcomes.filter((o) => !o.ok);
  console.log(
    `${label}: ${outcomes.length} logins and registrations, ${failed.length} failed ` +
      `(${failed.filter((o) => o.startedAt < killedAt).length} of them started before the kill); ${registered.length} registrations answered`,
  );
  expect(await halfWrittenAccounts(db)).toEqual([]);
  const { rows } = await db.query<{ email: string }>(`select email from citizens where email like 'daftar%'`);
  const stored = new Set(rows.map((r) => r.email));
  // Every answered registration was kept; nothing was stored that nobody sent.
  expect(registered.filter((email) => !stored.has(email))).toEqual([]);
  expect([...stored].filter((email) => !attempted.has(email))).toEqual([]);
}

/** Every refresh token a client got, before or after the kill, still refreshes. */
async function checkRefreshTokens(outcomes: Outcome[], rp: oidc.Configuration) {
  const refreshTokens = outcomes.filter((o) => o.refreshToken).map((o) => o.refreshToken!);
  expect(refreshTokens.length).toBeGreaterThan(0);
  for (const token of refreshTokens) expect((await oidc.refreshTokenGrant(rp, token)).access_token).toBeTruthy();
}

/** A server with a client of its own and Siti's account; on PostgreSQL two server processes (WORKERS=2). */
async function startInstance(database: 'postgres' | 'embedded') {
  const setup = await processEnvironment({ ...LIMITS, ...(database === 'postgres' && { WORKERS: '2' }) }, { database });
  const { clientId, clientSecret } = await createClientByCli(setup.env, ['--scope', 'openid offline_access', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token']);
  await createSitiByCli(setup.env);
  return { setup, served: await startServe(setup.env), rp: await relyingParty(setup.issuer, clientId, clientSecret) };
}

describe('kill -9 during logins and registrations', () => {
  let instance: Awaited<ReturnType<typeof startInstance>> | undefined;
  afterEach(async () => {
    await instance?.served.stop();
    await instance?.setup.cleanup();
    instance = undefined;
  });

  (onPostgres ? test : test.skip)('PostgreSQL, WORKERS=2: the other process carries on, and the database holds no half-created rows', async () => {
    const started = Date.now();
    instance = await startInstance('postgres');
    const { setup, served, rp } = instance;
    const primary = served.child.pid!;
    await waitFor(() => childrenOf(primary).length === 2, 10_000);
    const load = startLoad(setup.issuer, rp);
    let victim: number | undefined;
    let killedAt = 0;
    try {
      await waitFor(load.warmedUp, 30_000);
      [victim] = childrenOf(primary);
      process.kill(victim!, 'SIGKILL');
      killedAt = Date.now();
      await sleep(4_000);
    } finally {
      await load.stop();
    }
    const { outcomes } = load;

    // Whatever started a second after the kill was served by the other process or the new one.
    const after = outcomes.filter((o) => o.startedAt > killedAt + 1_000);
    expect(after.filter((o) => o.kind === 'register').length).toBeGreaterThan(0);
    expect(after.filter((o) => o.kind === 'login').length).toBeGreaterThan(0);
    expect(after.filter((o) => !o.ok)).toEqual([]);
    expect(childrenOf(primary)).not.toContain(victim);
    await setup.withDatabase((db) => checkDatabase('kill -9 of one of two server processes', outcomes, killedAt, db));
    const refreshing = Date.now();
    await checkRefreshTokens(outcomes, rp);
    console.log(`refreshed every token in ${Date.now() - refreshing} ms; the test so far took ${Date.now() - started} ms`);
  }, 300_000);

  // The embedded database on every run, PostgreSQL runs included.
  test('embedded database: started again on its data directory, it holds every answered registration whole', async () => {
    instance = await startInstance('embedded');
    const { setup, served, rp } = instance;
    const load = startLoad(setup.issuer, rp);
    let killedAt = 0;
    try {
      await waitFor(load.warmedUp, 30_000);
      served.child.kill('SIGKILL');
      killedAt = Date.now();
    } finally {
      await load.stop();
    }
    const { outcomes } = load;
    await served.stop();

    // The data directory opens again as it was left, then the server starts on it.
    await setup.withDatabase((db) => checkDatabase('kill -9 of the embedded server', outcomes, killedAt, db));
    instance.served = await startWhenLockIsStale(setup.env);
    await checkRefreshTokens(outcomes, rp);
    // It serves registrations and logins again.
    expect((await register(setup.issuer, 10_000)).ok).toBe(true);
    expect((await login(rp)).ok).toBe(true);
  }, 120_000);
});
