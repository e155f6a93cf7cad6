import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { lastCodeTo, lastMessageTo, messagesTo, phoneCodesAge } from '../support/messages.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  // This file registers and asks for codes many times from one address.
  server = await startTestServer({ IP_LIMIT_REGISTER: '1000', IP_LIMIT_MESSAGE: '1000' });
});
afterAll(() => server.close());

const PASSWORD = 'perahu-kertas-di-sungai-brantas';
let nextSerial = 1;
/** A person with a NIK of their own (born 5 Dec 1988), registering with a phone number only. */
function person(phone: string) {
  const serial = String(nextSerial++).padStart(4, '0');
  return { nik: `357102051288${serial}`, name: 'Warga Telepon', birth_day: '5', birth_month: '12', birth_year: '1988', email: '', phone, channel: 'whatsapp', password: PASSWORD };
}

async function submit(agent: Agent, fields: Record<string, string>) {
  const _csrf = csrfTokenOf(await (await agent.request('/daftar')).text());
  return agent.post('/daftar', { _csrf, password_confirm: fields.password ?? '', privacy: 'ya', ...fields });
}

async function enterCode(agent: Agent, code: string) {
  const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
  return agent.post('/verifikasi', { _csrf, code });
}

async function askAgain(agent: Agent, channel: string) {
  const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
  return agent.post('/verifikasi/kirim-ulang', { _csrf, channel });
}

const citizenByPhone = async (phone: string) =>
  (await server.instance.db.query<{ id: string; email: string | null; phone_verified: boolean }>('select id, email, phone_verified from citizens where phone = $1 order by created_at', [phone])).rows;

describe('registering with a phone number', () => {
  test('a phone alone: the number is stored in E.164, a WhatsApp code verifies it once, and the account signs in with the number', async () => {
    const agent = new Agent(server.url);
    const res = await submit(agent, person('0812-3456-7001'));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/verifikasi?dikirim=1');
    const [row] = await citizenByPhone('+6281234567001');
    expect(row).toMatchObject({ email: null, phone_verified: false });

    const message = await lastMessageTo(server.instance.db, '+6281234567001');
    expect(message).toMatchObject({ channel: 'whatsapp', kind: 'code' });
    expect(message.body).toContain('Kediri ID');
    expect(message.body).toContain('JANGAN BERIKAN');
    expect(message.body).toContain(message.code);
    // Only the keyed hash of the code is kept with the code itself.
    const stored = await server.instance.db.query('select * from phone_codes where phone = $1', ['+6281234567001']);
    expect(JSON.stringify(stored.rows)).not.toContain(message.code);

    const page = await (await agent.request('/verifikasi?dikirim=1')).text();
    expect(page).toContain('+62812*****001');
    expect(page).not.toContain('+6281234567001');
    const _csrf = csrfTokenOf(page);
    expect((await agent.post('/verifikasi', { _csrf, code: message.code === '000000' ? '111111' : '000000' })).status).toBe(400);
    expect((await agent.post('/verifikasi', { _csrf, code: message.code! })).status).toBe(200);
    expect((await citizenByPhone('+6281234567001'))[0]!.phone_verified).toBe(true);
    // The code is spent.
    expect((await agent.post('/verifikasi', { _csrf, code: message.code! })).status).toBe(400);
    const audit = await server.instance.db.query<{ type: string }>(
      "select type from audit_events where citizen_id = $1 and type like 'phone.%' order by id", [row!.id]);
    expect(audit.rows.map((r) => r.type)).toEqual(['phone.code_sent', 'phone.verified']);

    // Signing in with the number, in any of the forms people type it, and the password.
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    for (const typed of ['0812 3456 7001', '+6281234567001']) {
      const tokens = await signInAndExchange(rp, typed, PASSWORD);
      expect(tokens.claims()!.sub).toBeTruthy();
    }
  });

  test.each([
    ['a landline', { phone: '0354 681234' }, 'phone', 'nomor HP Indonesia'],
    ['a number of another country', { phone: '+1 202 555 0100' }, 'phone', 'nomor HP Indonesia'],
    ['neither a phone nor an email', { phone: '' }, 'email', 'Isi nomor HP atau email'],
  ])('%s: a message beside the field, and nothing is created', async (_label, change, field, text) => {
    const before = (await server.instance.db.query<{ n: number }>('select count(*)::int as n from citizens')).rows[0]!.n;
    const res = await submit(new Agent(server.url), { ...person(''), ...change });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain(`href="#${field}"`);
    expect(new RegExp(`id="${field}-error"[^>]*>[\\s\\S]*?${text}`).test(html)).toBe(true);
    expect((await server.instance.db.query<{ n: number }>('select count(*)::int as n from citizens')).rows[0]!.n).toBe(before);
  });

  test("another account's verified number: the same answer, and only the code's receiver learns it is taken", async () => {
    const holder = await createCitizen(server.instance);
    await server.instance.db.transaction((tx) => server.instance.citizens.setVerifiedPhone(tx, holder.id, '+6281234567002'));
    const agent = new Agent(server.url);
    const res = await submit(agent, person('0812 3456 7002'));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/verifikasi?dikirim=1');
    const refused = await enterCode(agent, await lastCodeTo(server.instance.db, '+6281234567002'));
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('sudah terhubung dengan akun Kediri ID lain');
    const rows = await citizenByPhone('+6281234567002');
    expect(rows.map((r) => r.phone_verified)).toEqual([true, false]);
    expect((await server.instance.citizens.findByEmail(SITI.email))!.phone_verified).toBe(true);
  });

  test('a new code at most once a minute, by the channel picked then; three in ten minutes; the newest code is the one that works', async () => {
    const phone = '+6281234567003';
    const agent = new Agent(server.url);
    expect((await submit(agent, person('081234567003'))).status).toBe(303);
    const first = await lastCodeTo(server.instance.db, phone);

    const soon = await askAgain(agent, 'sms');
    expect(soon.status).toBe(429);
    expect(Number(soon.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(await soon.text()).toContain('Tunggu');
    expect(await messagesTo(server.instance.db, phone)).toBe(1);

    await phoneCodesAge(server.instance.db, phone, 61);
    expect((await askAgain(agent, 'sms')).status).toBe(303);
    const second = await lastMessageTo(server.instance.db, phone);
    expect(second.channel).toBe('sms');
    await phoneCodesAge(server.instance.db, phone, 61);
    expect((await askAgain(agent, 'whatsapp')).status).toBe(303);
    await phoneCodesAge(server.instance.db, phone, 61);
    // The fourth within ten minutes is refused, and audited.
    const fourth = await askAgain(agent, 'whatsapp');
    expect(fourth.status).toBe(429);
    expect(await messagesTo(server.instance.db, phone)).toBe(3);
    const refusal = await server.instance.db.query<{ details: { limit: string } }>(
      "select details from audit_events where type = 'phone.code_refused' order by id desc limit 1");
    expect(refusal.rows[0]!.details.limit).toBe('number');

    // Earlier codes stopped working when a new one was sent.
    expect((await enterCode(agent, first)).status).toBe(400);
    expect((await enterCode(agent, second.code!)).status).toBe(400);
    expect((await enterCode(agent, await lastCodeTo(server.instance.db, phone))).status).toBe(200);
  });

  test("a registration held back by the wait is never handed another account's code", async () => {
    const phone = '+6281234567006';
    // Someone registers with another person's number; that person registers within the minute.
    const intruder = new Agent(server.url);
    expect((await submit(intruder, person('081234567006'))).status).toBe(303);
    const owner = new Agent(server.url);
    const res = await submit(owner, person('081234567006'));
    expect(res.headers.get('location')).toMatch(/^\/verifikasi\?tunggu=\d+$/);
    // The only code sent is the intruder's account's: typed in the owner's browser, it verifies nothing.
    expect(await messagesTo(server.instance.db, phone)).toBe(1);
    expect((await enterCode(owner, await lastCodeTo(server.instance.db, phone))).status).toBe(400);
    expect((await citizenByPhone(phone)).map((r) => r.phone_verified)).toEqual([false, false]);
  });

  test('a code expires after five minutes', async () => {
    const phone = '+6281234567004';
    const agent = new Agent(server.url);
    expect((await submit(agent, person('081234567004'))).status).toBe(303);
    await server.instance.db.query("update phone_codes set expires_at = now() - interval '1 second' where phone = $1", [phone]);
    expect((await enterCode(agent, await lastCodeTo(server.instance.db, phone))).status).toBe(400);
    expect((await citizenByPhone(phone))[0]!.phone_verified).toBe(false);
  });

  test('an unverified phone-only account that signs in with its NIK is sent a code first', async () => {
    const phone = '+6281234567005';
    const someone = person('081234567005');
    expect((await submit(new Agent(server.url), someone)).status).toBe(303);
    await phoneCodesAge(server.instance.db, phone, 61);
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    await expect(signInAndExchange(rp, someone.nik, PASSWORD)).rejects.toThrow();
    expect(await messagesTo(server.instance.db, phone)).toBe(2);
    expect((await lastMessageTo(server.instance.db, phone)).kind).toBe('code');
  });
});

describe('the limits for the whole instance', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ IP_LIMIT_REGISTER: '1000', MESSAGE_DAILY_BUDGET: '2', IP_LIMIT_MESSAGE: '3' });
  });
  afterAll(() => limited.close());

  test('past the daily budget no message goes out, and past the address limit neither; each refusal is counted', async () => {
    const register = async (phone: string) => {
      const agent = new Agent(limited.url);
      const _csrf = csrfTokenOf(await (await agent.request('/daftar')).text());
      return agent.post('/daftar', { _csrf, password_confirm: PASSWORD, privacy: 'ya', ...person(phone) });
    };
    for (const phone of ['081234567101', '081234567102']) expect((await register(phone)).headers.get('location')).toBe('/verifikasi?dikirim=1');
    // The budget (2 a day) is spent: the account is made, its code is not sent, and the page says to wait.
    expect((await register('081234567103')).headers.get('location')).toMatch(/^\/verifikasi\?tunggu=\d+$/);
    expect(await messagesTo(limited.instance.db, '+6281234567103')).toBe(0);
    // The fourth request from this address passes the address limit (3 in 15 minutes).
    expect((await register('081234567104')).headers.get('location')).toMatch(/^\/verifikasi\?tunggu=\d+$/);
    const refusals = await limited.instance.db.query<{ limit: string }>(
      "select details->>'limit' as limit from audit_events where type = 'phone.code_refused' order by id");
    expect(refusals.rows.map((r) => r.limit)).toEqual(['budget', 'ip']);
    const metrics = await limited.instance.metrics.registry.metrics();
    expect(metrics).toMatch(/kediri_messages_total\{channel="whatsapp",result="refused"\} 2/);
  });
});
