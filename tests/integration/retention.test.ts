import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services.js';
import { RETENTION_BATCH, createRetention } from '../../src/retention.js';
import { createLogger } from '../../src/log.js';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { value } from '../support/metrics.js';
import { TEST_ENV } from '../support/env.js';

const UNVERIFIED = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const UNVERIFIED_PHONE = { nik: '3571035506850002', name: 'Dewi Lestari', birthdate: '1985-06-15', phone: '+6281234567801', password: 'kopi-tubruk-pagi-hari' };
const IDLE = { nik: '3571010101700001', name: 'Agus Salim', birthdate: '1970-01-01', email: 'agus@example.id', password: 'layang-layang-merah' };
const RETURNING = { nik: '3571010202750002', name: 'Rina Wati', birthdate: '1975-02-02', email: 'rina@example.id', password: 'nasi-pecel-tumpang' };

let server: TestServer;
let rp: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  const { clientId, clientSecret } = await createWebClient(server.instance);
  rp = await relyingParty(server.url, clientId, clientSecret);
});

afterAll(() => server.close());

const db = () => server.instance.db;
const run = () => server.instance.retention.run();

/**
 * As if `days` had passed: every time the retention job reads (when accounts were made, last
 * active, told and warned; when audit entries were written; when the job last ran) moves back.
 */
async function daysPass(days: number): Promise<void> {
  const back = (column: string) => `${column} = ${column} - make_interval(days => $1)`;
  await db().query(
    `update citizens set ${['created_at', 'last_active_at', 'unverified_notice_at', 'inactivity_warned_at', 'disabled_inactive_at'].map(back).join(', ')}`,
    [days],
  );
  await db().query(`update audit_events set ${back('at')}`, [days]);
  await db().query(`update retention_lease set ${back('last_success_at')}`, [days]);
}

const citizenRow = async (id: string) =>
  (await db().query<{ status: string; warned: boolean; disabled: boolean }>(
    'select status, inactivity_warned_at is not null as warned, disabled_inactive_at is not null as disabled from citizens where id = $1',
    [id],
  )).rows[0];
const emailsWith = async (to: string, subject: string) =>
  (await db().query<{ body: string }>('select body from outbox where to_address = $1 and subject like $2 order by id', [to, `%${subject}%`])).rows;
const auditOf = async (type: string, citizenId: string) =>
  (await db().query<{ actor: string; ip: string | null; details: object }>('select actor, ip, details from audit_events where type = $1 and citizen_id = $2', [type, citizenId])).rows;

/** The login page's answer to an identifier and password, in a fresh browser. */
async function tryLogin(identifier: string, password: string) {
  const agent = new Agent(server.url);
  const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
  const answer = await agent.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier, password });
  return { status: answer.status, html: await answer.text() };
}

describe('the retention job', () => {
  test('a registration never verified is told at day 23 and deleted at day 30, by email or to the number it gave; a verified account stays', async () => {
    const verified = await createCitizen(server.instance);
    const byEmail = await server.instance.citizens.create(UNVERIFIED, { actor: 'test' });
    const byPhone = await server.instance.citizens.create(UNVERIFIED_PHONE, { actor: 'test' });
    const texts = async () =>
      (await db().query<{ body: string }>("select body from message_outbox where to_phone = $1 and notice_kind = 'registration_expiring'", [UNVERIFIED_PHONE.phone])).rows;

    await daysPass(22);
    await run();
    expect(await emailsWith(UNVERIFIED.email, 'akan dihapus')).toEqual([]);

    await daysPass(1);
    const told = await run();
    expect(told?.notices.registration_expiring).toBe(2);
    const [notice] = await emailsWith(UNVERIFIED.email, 'akan dihapus');
    expect(notice!.body).toContain('akan dihapus dalam\n7 hari');
    expect(notice!.body).toContain('will be deleted in\n7 days');
    expect((await texts()).map((t) => t.body)).toEqual([expect.stringContaining('akan dihapus dalam 7 hari')]);
    expect(await emailsWith(SITI.email, 'akan dihapus')).toEqual([]);

    // Told once, however often the job runs.
    await run();
    expect(await emailsWith(UNVERIFIED.email, 'akan dihapus')).toHaveLength(1);
    expect(await texts()).toHaveLength(1);

    await daysPass(6);
    await run();
    expect(await server.instance.citizens.findById(byEmail.id)).toBeDefined();

    await daysPass(1);
    const deleted = await run();
    expect(deleted?.rows.citizens?.deleted).toBe(2);
    expect(await server.instance.citizens.findById(byEmail.id)).toBeUndefined();
    expect(await server.instance.citizens.findById(byPhone.id)).toBeUndefined();
    expect(await server.instance.citizens.findById(verified.id)).toBeDefined();
    // Audited with the account id alone.
    expect(await auditOf('retention.registration_deleted', byEmail.id)).toEqual([{ actor: 'retention', ip: null, details: {} }]);
  });

  test('an inactive account is warned, then disabled (not deleted) and told so at its login; one that signs in after the warning is kept', async () => {
    const idle = await createCitizen(server.instance, IDLE);
    const returning = await createCitizen(server.instance, RETURNING);

    await daysPass(2 * 365 - 1);
    await run();
    expect(await citizenRow(idle.id)).toMatchObject({ warned: false });

    await daysPass(1);
    await run();
    expect(await citizenRow(idle.id)).toMatchObject({ status: 'active', warned: true });
    expect(await citizenRow(returning.id)).toMatchObject({ status: 'active', warned: true });
    const [warning] = await emailsWith(IDLE.email, 'akan dinonaktifkan');
    expect(warning!.body).toContain('dalam 30 hari');
    expect(await auditOf('retention.account_warned', idle.id)).toEqual([{ actor: 'retention', ip: null, details: {} }]);

    // Signing in after the warning (a real login at a unit's service) keeps the account.
    await daysPass(10);
    await signInAndExchange(rp, RETURNING.email, RETURNING.password);

    await daysPass(19);
    await run();
    expect(await citizenRow(idle.id)).toMatchObject({ status: 'active' });

    await daysPass(1);
    const disabled = await run();
    expect(disabled?.rows.citizens?.disabled).toBeGreaterThanOrEqual(1);
    expect(await citizenRow(idle.id)).toMatchObject({ status: 'locked', disabled: true });
    expect(await citizenRow(returning.id)).toMatchObject({ status: 'active', warned: false, disabled: false });
    expect(await emailsWith(IDLE.email, 'dinonaktifkan / Your Kediri ID account is disabled')).toHaveLength(1);
    expect(await emailsWith(RETURNING.email, 'dinonaktifkan / Your Kediri ID account is disabled')).toEqual([]);
    expect(await auditOf('retention.account_disabled', idle.id)).toEqual([{ actor: 'retention', ip: null, details: {} }]);

    // The right password is told to go to the counter; a wrong one learns nothing.
    const refused = await tryLogin(IDLE.email, IDLE.password);
    expect(refused.status).toBe(403);
    expect(refused.html).toContain('dinonaktifkan karena lama tidak digunakan');
    expect(refused.html).toContain('loket Mal Pelayanan Publik');
    const wrong = await tryLogin(IDLE.email, 'bukan-kata-sandinya');
    expect(wrong.status).toBe(400);
    expect(wrong.html).not.toContain('dinonaktifkan');
    expect(await auditOf('login.disabled_account', idle.id)).toHaveLength(1);

    // Nothing is told twice; an administrator's unlock (at the counter's request) reactivates it.
    await run();
    expect(await emailsWith(IDLE.email, 'akan dinonaktifkan')).toHaveLength(1);
    expect(await emailsWith(IDLE.email, 'dinonaktifkan / Your Kediri ID account is disabled')).toHaveLength(1);
    await server.instance.citizenAdmin.unlock('admin-test', idle.id, 'Diperiksa di loket MPP', '127.0.0.1');
    await run();
    expect(await citizenRow(idle.id)).toEqual({ status: 'active', warned: false, disabled: false });
    await signInAndExchange(rp, IDLE.email, IDLE.password);
  });

  test('audit entries lose their IP address and device after 90 days, and go after two years', async () => {
    const { audit } = server.instance;
    await audit({ type: 'login.succeeded', citizenId: '00000000-0000-4000-8000-000000000001', ip: '10.1.2.3', details: { acr: 'x', userAgent: 'Android 9' } });
    const entry = async () =>
      (await db().query<{ ip: string | null; details: Record<string, unknown> }>(
        "select ip, details from audit_events where citizen_id = '00000000-0000-4000-8000-000000000001'",
      )).rows;
    await daysPass(89);
    await run();
    expect(await entry()).toEqual([{ ip: '10.1.2.3', details: { acr: 'x', userAgent: 'Android 9' } }]);
    await daysPass(1);
    const scrubbed = await run();
    expect(scrubbed?.rows.audit_events?.scrubbed).toBeGreaterThanOrEqual(1);
    expect(await entry()).toEqual([{ ip: null, details: { acr: 'x' } }]);
    await daysPass(2 * 365 - 91);
    await run();
    expect(await entry()).toHaveLength(1);
    await daysPass(1);
    const deleted = await run();
    expect(deleted?.rows.audit_events?.deleted).toBeGreaterThanOrEqual(1);
    expect(await entry()).toEqual([]);
  });

  test('expired rows of every table with a lifetime are swept, in batches, and live ones stay', async () => {
    const count = async (table: string) => (await db().query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;
    await db().query('delete from throttle');
    await db().query(
      `insert into throttle (key, count, window_start)
       select 'ip:login:10.0.' || i, 1, now() - interval '2 days' from generate_series(1, ${RETENTION_BATCH * 2 + 7}) i`,
    );
    await db().query("insert into throttle (key, count, window_start) values ('ip:login:10.9.9.9', 1, now())");
    await db().query(
      `insert into oidc_payloads (model, id, payload, expires_at) values
         ('Session', 'expired', '{}', now() - interval '1 minute'), ('Session', 'live', '{}', now() + interval '1 hour')`,
    );
    const someone = (await createCitizen(server.instance, { ...SITI, nik: '3571014101900009', email: 'lain@example.id' })).id;
    await db().query(
      `insert into account_tokens (id, citizen_id, purpose, token_hash, expires_at) values
         (gen_random_uuid(), $1, 'verify_email', 'old', now() - interval '2 days'), (gen_random_uuid(), $1, 'verify_email', 'new', now() + interval '1 day')`,
      [someone],
    );
    await db().query(
      `insert into phone_codes (id, phone, purpose, channel, code_hash, expires_at) values
         (gen_random_uuid(), '+6281200000001', 'sign_in', 'sms', 'old', now() - interval '2 days'),
         (gen_random_uuid(), '+6281200000001', 'sign_in', 'sms', 'new', now() + interval '5 minutes')`,
    );
    await db().query(
      `insert into webauthn_challenges (citizen_id, ceremony, login, challenge, expires_at) values
         ($1, 'register', '', 'old', now() - interval '1 minute'), ($1, 'authenticate', '', 'new', now() + interval '5 minutes')`,
      [someone],
    );
    await db().query(
      `insert into outbox (to_address, subject, body, sent_at) values
         ('a@example.id', 'old', 'x', now() - interval '8 days'), ('a@example.id', 'new', 'x', now())`,
    );
    await db().query(
      `insert into message_outbox (to_phone, channel, kind, body, sent_at) values
         ('+6281200000001', 'sms', 'notice', 'old', now() - interval '2 days'), ('+6281200000001', 'sms', 'notice', 'new', now())`,
    );
    const before = { outbox: await count('outbox'), message_outbox: await count('message_outbox') };

    const report = await run();
    expect(report?.rows.throttle?.deleted).toBe(RETENTION_BATCH * 2 + 7);
    expect(await count('throttle')).toBe(1);
    expect(report?.rows.oidc_payloads?.deleted).toBeGreaterThanOrEqual(1);
    expect((await db().query("select id from oidc_payloads where model = 'Session' and id in ('expired', 'live')")).rows).toEqual([{ id: 'live' }]);
    expect((await db().query('select token_hash from account_tokens where citizen_id = $1', [someone])).rows).toEqual([{ token_hash: 'new' }]);
    expect((await db().query("select code_hash from phone_codes where phone = '+6281200000001'")).rows).toEqual([{ code_hash: 'new' }]);
    expect((await db().query('select challenge from webauthn_challenges where citizen_id = $1', [someone])).rows).toEqual([{ challenge: 'new' }]);
    expect(await count('outbox')).toBe(before.outbox - 1);
    expect(await count('message_outbox')).toBe(before.message_outbox - 1);

    // Every table with an expires_at column has a sweep (the report names each table it swept).
    const { rows } = await db().query<{ table_name: string }>(
      "select table_name from information_schema.columns where column_name = 'expires_at' and table_schema = current_schema() order by 1",
    );
    const expiring = rows.map((r) => r.table_name);
    expect(expiring.length).toBeGreaterThanOrEqual(9);
    expect(expiring.filter((table) => !(table in report!.rows))).toEqual([]);
  });

  test('one run at a time for the whole instance: a second process skips while one runs, rows go once, a run that lost its lease stops, and a dead holder\'s lease runs out', async () => {
    // A second process on the same database.
    const other = await createServices(loadConfig({ ...TEST_ENV, ISSUER: server.url, ENCRYPTION_KEY: server.instance.config.encryptionKey }), db());
    await db().query(
      `insert into throttle (key, count, window_start)
       select 'ip:login:10.1.' || i, 1, now() - interval '2 days' from generate_series(1, 50) i`,
    );
    // Runs started together never overlap, and remove each row once.
    const reports = await Promise.all([run(), other.retention.run(), run()]);
    const ran = reports.filter((r) => r !== undefined);
    expect(ran.length).toBeGreaterThanOrEqual(1);
    expect(ran.reduce((sum, r) => sum + (r.rows.throttle?.deleted ?? 0), 0)).toBe(50);

    // While this process is in the middle of a run, the other one's turn is skipped.
    const { instance } = server;
    let during: unknown = 'not asked';
    const probing = createRetention({
      ...{ db: instance.db, citizens: instance.citizens, notices: instance.notices, audit: instance.audit },
      ...{ metrics: instance.metrics.retention, policy: instance.config.retention, log: createLogger('silent') },
      sweeps: { probe: async () => { during = await other.retention.run(); return 0; } },
    });
    expect(await probing.run()).toBeDefined();
    expect(during).toBeUndefined();
    expect(await other.retention.run()).toBeDefined();

    // A run that lost its lease (it took longer than the lease, and another process took over) stops.
    const overtaken = createRetention({
      ...{ db: instance.db, citizens: instance.citizens, notices: instance.notices, audit: instance.audit },
      ...{ metrics: instance.metrics.retention, policy: instance.config.retention, log: createLogger('silent') },
      sweeps: {
        slow: async () => {
          await db().query("update retention_lease set holder = 'other'");
          return RETENTION_BATCH;
        },
      },
    });
    await expect(overtaken.run()).rejects.toThrow('the retention lease ran out during the run');
    await db().query("update retention_lease set holder = null, leased_until = '-infinity'");

    // A process that died holding the lease: nobody runs until it runs out.
    await db().query("update retention_lease set holder = 'dead', leased_until = now() + interval '1 minute'");
    expect(await other.retention.run()).toBeUndefined();
    expect(await run()).toBeUndefined();
    await db().query("update retention_lease set leased_until = now() - interval '1 second'");
    expect(await other.retention.run()).toBeDefined();
  });

  test('the metrics show the runs, the rows removed by table, the notices, the duration and the last success', async () => {
    const text = await server.instance.metrics.registry.metrics();
    expect(value(text, 'kediri_retention_runs_total{result="ran"}')).toBeGreaterThanOrEqual(10);
    expect(value(text, 'kediri_retention_runs_total{result="skipped"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'kediri_retention_runs_total{result="failed"}')).toBe(1);
    expect(value(text, 'kediri_retention_rows_total{table="citizens",action="deleted"}')).toBe(2);
    expect(value(text, 'kediri_retention_rows_total{table="citizens",action="disabled"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'kediri_retention_rows_total{table="throttle",action="deleted"}')).toBeGreaterThanOrEqual(RETENTION_BATCH * 2 + 7);
    expect(value(text, 'kediri_retention_rows_total{table="audit_events",action="scrubbed"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'kediri_retention_notices_total{kind="registration_expiring"}')).toBe(2);
    expect(value(text, 'kediri_retention_notices_total{kind="account_inactive"}')).toBeGreaterThanOrEqual(2);
    expect(value(text, 'kediri_retention_duration_seconds')).toBeGreaterThan(0);
    const lastSuccess = value(text, 'kediri_retention_last_success_timestamp_seconds')!;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
  });
});
