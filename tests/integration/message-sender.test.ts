import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { availableChannels, createGateways } from '../../src/messaging/gateways.js';
import { createMessageOutbox, MESSAGE_ENQUEUED, type PhoneMessage } from '../../src/messaging/outbox.js';
import { createMessageSender } from '../../src/messaging/sender.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { TEST_ENV } from '../support/env.js';
import { startMessageGateway, type MessageGatewayStub } from '../support/message-gateway.js';
import { value } from '../support/metrics.js';

const PHONE = '+6281234567890';
const MASKED = '+62812*****890';
const CODE = '482913';
const WA_TOKEN = 'EAAGwa-rahasia-token-0123456789';
const SMS_TOKEN = 'sms-rahasia-token-9876543210';
const PHONE_NUMBER_ID = '109876543210';
const CODE_BODY = `Kediri ID: ${CODE} adalah kode untuk masuk. Berlaku 5 menit. JANGAN BERIKAN kode ini kepada siapa pun, termasuk petugas.`;
const NOTICE_BODY = 'Kediri ID: kata sandi akun Anda baru saja diganti.';

let testDb: TestDb;
let wa: MessageGatewayStub;
let sms: MessageGatewayStub;
let metrics: Metrics;
/** Every line the senders of the gateway tests log (the log-only test has its own). */
const lines: string[] = [];
const capture = (into: string[]) => pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (into.push(String(chunk)), done()) }));
const log = capture(lines);

beforeAll(async () => {
  testDb = await createTestDb();
  [wa, sms] = await Promise.all([startMessageGateway('whatsapp', WA_TOKEN), startMessageGateway('sms', SMS_TOKEN)]);
  metrics = createMetrics(testDb.db, { liveSessions: async () => 0, retentionLastSuccess: async () => 0 });
});
afterAll(async () => {
  await Promise.all([wa.close(), sms.close()]);
  await testDb.drop();
});
beforeEach(async () => {
  await testDb.db.query('delete from message_outbox');
  for (const stub of [wa, sms]) {
    stub.mode = 'accept';
    stub.requests.length = 0;
  }
});

const gatewayEnv = (gateways: string) => ({
  MESSAGE_GATEWAY: gateways,
  WHATSAPP_API_URL: `${wa.url}/v21.0`,
  WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
  WHATSAPP_ACCESS_TOKEN: WA_TOKEN,
  SMS_GATEWAY_URL: `${sms.url}/sms`,
  SMS_GATEWAY_TOKEN: SMS_TOKEN,
});

/** A sender as main.ts makes one, for the gateways MESSAGE_GATEWAY names. */
const sender = (gateways = 'whatsapp,sms', timeoutMs?: number) => {
  const config = loadConfig({ ...TEST_ENV, ...gatewayEnv(gateways) });
  return createMessageSender(testDb.db, log, { gateways: createGateways(config, log, { timeoutMs }), count: metrics.message });
};

const code = (channel: PhoneMessage['channel'], expiresInMs = 5 * 60_000): PhoneMessage => ({
  to: PHONE, channel, kind: 'code', body: CODE_BODY, code: CODE, expiresAt: new Date(Date.now() + expiresInMs),
});
const notice = (channel: PhoneMessage['channel'], to = PHONE): PhoneMessage => ({ to, channel, kind: 'notice', body: NOTICE_BODY });

async function enqueue(message: PhoneMessage): Promise<number> {
  await createMessageOutbox(testDb.db).enqueue(message);
  return (await testDb.db.query<{ id: number }>('select max(id)::int as id from message_outbox')).rows[0]!.id;
}

interface Row {
  id: number;
  attempts: number;
  sent_at: Date | null;
  sent_channel: string | null;
  failed_at: Date | null;
  last_error: string | null;
  refused_channels: string[];
  due_in: number;
}
const row = async (id: number) =>
  (await testDb.db.query<Row>(
    `select id, attempts, sent_at, sent_channel, failed_at, last_error, refused_channels,
       extract(epoch from send_after - now())::float8 as due_in
     from message_outbox where id = $1`,
    [id],
  )).rows[0]!;
const makeDue = (id: number) => testDb.db.query('update message_outbox set send_after = now() where id = $1', [id]);

const counted = async (channel: string, result: string) =>
  value(await metrics.registry.metrics(), `kediri_messages_total{channel="${channel}",result="${result}"}`) ?? 0;

describe('the WhatsApp Business Cloud API wire format', () => {
  test('a code: an authentication template with the code in the body and the copy-code button', async () => {
    const id = await enqueue(code('whatsapp'));
    expect(await sender().deliverDue()).toBe(1);
    expect(wa.requests).toHaveLength(1);
    const [request] = wa.requests;
    expect(request).toMatchObject({ method: 'POST', path: `/v21.0/${PHONE_NUMBER_ID}/messages` });
    expect(request!.headers.authorization).toBe(`Bearer ${WA_TOKEN}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({
      messaging_product: 'whatsapp',
      to: '6281234567890',
      type: 'template',
      template: {
        name: 'kediri_id_kode',
        language: { code: 'id' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: CODE }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: CODE }] },
        ],
      },
    });
    expect(await row(id)).toMatchObject({ attempts: 1, sent_at: expect.any(Date), sent_channel: 'whatsapp', failed_at: null });
    expect(sms.requests).toHaveLength(0);
  });

  test('a notice: the notice template with the whole text as its one parameter', async () => {
    await enqueue(notice('whatsapp'));
    await sender('whatsapp').deliverDue();
    expect(JSON.parse(wa.requests[0]!.body)).toEqual({
      messaging_product: 'whatsapp',
      to: '6281234567890',
      type: 'template',
      template: { name: 'kediri_id_pemberitahuan', language: { code: 'id' }, components: [{ type: 'body', parameters: [{ type: 'text', text: NOTICE_BODY }] }] },
    });
  });

  test('the template names come from the configuration', async () => {
    await enqueue(code('whatsapp'));
    const config = loadConfig({ ...TEST_ENV, ...gatewayEnv('whatsapp'), WHATSAPP_CODE_TEMPLATE: 'kode_masuk_v2' });
    await createMessageSender(testDb.db, log, { gateways: createGateways(config, log) }).deliverDue();
    expect((wa.requests[0]!.json.template as { name: string }).name).toBe('kode_masuk_v2');
  });
});

describe('the SMS gateway wire format', () => {
  test('the number in E.164, the whole text and the outbox id as reference', async () => {
    const id = await enqueue(code('sms'));
    await sender().deliverDue();
    expect(sms.requests).toHaveLength(1);
    const [request] = sms.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/sms' });
    expect(request!.headers.authorization).toBe(`Bearer ${SMS_TOKEN}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({ to: PHONE, text: CODE_BODY, reference: String(id) });
    expect(await row(id)).toMatchObject({ sent_at: expect.any(Date), sent_channel: 'sms' });
    expect(wa.requests).toHaveLength(0);
  });
});

describe('retries and failover', () => {
  test('WhatsApp answering 5xx: the next attempt, 2 s later, goes by SMS; both counted', async () => {
    const before = { waFailed: await counted('whatsapp', 'failed'), smsSent: await counted('sms', 'sent') };
    wa.mode = 'error';
    const id = await enqueue(code('whatsapp'));
    const s = sender();
    await s.deliverDue();
    const first = await row(id);
    expect(first).toMatchObject({ attempts: 1, sent_at: null, failed_at: null, last_error: 'HTTP 503' });
    expect(first.due_in).toBeGreaterThan(1);
    expect(first.due_in).toBeLessThanOrEqual(2);
    expect(await s.deliverDue()).toBe(0);

    await makeDue(id);
    await s.deliverDue();
    expect(await row(id)).toMatchObject({ attempts: 2, sent_at: expect.any(Date), sent_channel: 'sms', last_error: null });
    expect(wa.requests).toHaveLength(1);
    expect(sms.requests).toHaveLength(1);
    expect(await counted('whatsapp', 'failed')).toBe(before.waFailed + 1);
    expect(await counted('sms', 'sent')).toBe(before.smsSent + 1);
  });

  test('the channels alternate: SMS failing too sends the third attempt by WhatsApp again', async () => {
    wa.mode = 'error';
    sms.mode = 'error';
    const id = await enqueue(code('sms'));
    const s = sender();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await makeDue(id);
      await s.deliverDue();
    }
    expect(sms.requests).toHaveLength(2);
    expect(wa.requests).toHaveLength(1);
    const third = await row(id);
    expect(third.attempts).toBe(3);
    // Codes wait 2, 4, 8 ... seconds.
    expect(third.due_in).toBeGreaterThan(7);
    expect(third.due_in).toBeLessThanOrEqual(8);
  });

  test('a notice waits as an email does: 30 s after the first failure', async () => {
    sms.mode = 'error';
    const id = await enqueue(notice('sms'));
    await sender('sms').deliverDue();
    expect((await row(id)).due_in).toBeGreaterThan(29);
  });

  test('429 is retried, after the Retry-After the gateway gave when the same channel is next', async () => {
    sms.mode = 'throttle';
    sms.retryAfter = 30;
    const id = await enqueue(code('sms'));
    const s = sender('sms');
    await s.deliverDue();
    const first = await row(id);
    expect(first).toMatchObject({ attempts: 1, failed_at: null, last_error: 'HTTP 429', refused_channels: [] });
    expect(first.due_in).toBeGreaterThan(29);

    sms.mode = 'accept';
    await makeDue(id);
    await s.deliverDue();
    expect(await row(id)).toMatchObject({ attempts: 2, sent_channel: 'sms' });
  });

  test('429 on WhatsApp does not hold back the SMS attempt', async () => {
    wa.mode = 'throttle';
    wa.retryAfter = 600;
    const id = await enqueue(code('whatsapp'));
    await sender().deliverDue();
    expect((await row(id)).due_in).toBeLessThanOrEqual(2);
  });

  test('a gateway that does not answer within the timeout counts as a failure, and is retried', async () => {
    const before = await counted('sms', 'failed');
    sms.mode = 'hang';
    const id = await enqueue(code('sms'));
    const s = sender('sms', 300);
    const started = Date.now();
    await s.deliverDue();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await row(id)).toMatchObject({ attempts: 1, sent_at: null, failed_at: null, last_error: 'timeout: no answer within 300 ms' });
    expect(await counted('sms', 'failed')).toBe(before + 1);

    sms.mode = 'accept';
    await makeDue(id);
    await s.deliverDue();
    expect((await row(id)).sent_channel).toBe('sms');
  });

  test('an unreachable gateway is a failure to retry', async () => {
    const closed = await startMessageGateway('sms', SMS_TOKEN);
    await closed.close();
    const config = loadConfig({ ...TEST_ENV, MESSAGE_GATEWAY: 'sms', SMS_GATEWAY_URL: `${closed.url}/sms`, SMS_GATEWAY_TOKEN: SMS_TOKEN });
    const id = await enqueue(notice('sms'));
    await createMessageSender(testDb.db, log, { gateways: createGateways(config, log) }).deliverDue();
    expect(await row(id)).toMatchObject({ failed_at: null, last_error: 'network error: ECONNREFUSED' });
  });

  test('a 400 on WhatsApp: the message goes by SMS, and WhatsApp is not tried for it again', async () => {
    wa.mode = 'refuse';
    sms.mode = 'error';
    const id = await enqueue(code('whatsapp'));
    const s = sender();
    await s.deliverDue();
    expect(await row(id)).toMatchObject({ failed_at: null, last_error: 'HTTP 400 (error 131026)', refused_channels: ['whatsapp'] });
    await makeDue(id);
    await s.deliverDue();
    sms.mode = 'accept';
    await makeDue(id);
    await s.deliverDue();
    expect(await row(id)).toMatchObject({ attempts: 3, sent_channel: 'sms' });
    expect(wa.requests).toHaveLength(1);
    expect(sms.requests).toHaveLength(2);
  });

  test('a 400 from the only channel gives the message up at once', async () => {
    sms.mode = 'refuse';
    const id = await enqueue(notice('sms'));
    await sender('sms').deliverDue();
    expect(await row(id)).toMatchObject({ attempts: 1, sent_at: null, failed_at: expect.any(Date), last_error: 'HTTP 400' });
  });

  test('a notice is given up after eight attempts', async () => {
    sms.mode = 'error';
    const id = await enqueue(notice('sms'));
    const s = sender('sms');
    for (let attempt = 1; attempt <= 9; attempt++) {
      await makeDue(id);
      await s.deliverDue();
    }
    expect(sms.requests).toHaveLength(8);
    expect(await row(id)).toMatchObject({ attempts: 8, failed_at: expect.any(Date), last_error: 'HTTP 503' });
  });
});

describe('expiry', () => {
  test('an expired code is not sent', async () => {
    const id = await enqueue(code('sms', -1000));
    expect(await sender().deliverDue()).toBe(0);
    expect(sms.requests).toHaveLength(0);
    expect(wa.requests).toHaveLength(0);
    expect(await row(id)).toMatchObject({ attempts: 0, sent_at: null, failed_at: expect.any(Date), last_error: 'expired' });
  });

  test('a code is not retried past its expiry', async () => {
    sms.mode = 'error';
    const id = await enqueue(code('sms', 3000));
    const s = sender('sms');
    await s.deliverDue();
    // The next attempt in 2 s still comes before the code expires.
    expect(await row(id)).toMatchObject({ attempts: 1, failed_at: null });
    await makeDue(id);
    await s.deliverDue();
    // The one after would come 4 s later, past the expiry.
    expect(await row(id)).toMatchObject({ attempts: 2, failed_at: expect.any(Date), last_error: 'expired' });
    expect(sms.requests).toHaveLength(2);
  });
});

describe('the code is not kept', () => {
  const stored = async (id: number) =>
    (await testDb.db.query<{ code: string | null; body: string }>('select code, body from message_outbox where id = $1', [id])).rows[0]!;

  test('once a gateway sent it, or it was given up, the outbox holds the code no more', async () => {
    const sent = await enqueue(code('sms'));
    const expired = await enqueue(code('sms', -1000));
    const waiting = await enqueue({ ...code('whatsapp'), to: '+6281299990099' });
    wa.mode = 'error';
    await sender().deliverDue();
    for (const id of [sent, expired]) {
      expect(await stored(id)).toMatchObject({ code: null });
      expect((await stored(id)).body).not.toContain(CODE);
      expect((await stored(id)).body).toContain('******');
    }
    // A code still to be retried keeps it until then.
    expect(await stored(waiting)).toMatchObject({ code: CODE });
  });

  test('the log of a local trial keeps it, for /dev/pesan', async () => {
    const config = loadConfig({ ...TEST_ENV });
    const id = await enqueue(code('whatsapp'));
    // Its own log: the local trial's log holds the code, which the shared one must never show.
    const ownLog = capture([]);
    await createMessageSender(testDb.db, ownLog, { gateways: createGateways(config, ownLog) }).deliverDue();
    expect(await stored(id)).toMatchObject({ code: CODE, body: CODE_BODY });
  });
});

describe('several senders', () => {
  test('two senders at work at once never send one message twice', async () => {
    const ids: number[] = [];
    for (let n = 0; n < 12; n++) ids.push(await enqueue(notice('sms', `+62812345678${String(n).padStart(2, '0')}`)));
    const [a, b] = [sender(), sender()];
    const counts = await Promise.all([a.deliverDue(), b.deliverDue(), a.deliverDue(), b.deliverDue()]);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(12);
    const references = sms.requests.map((r) => r.json.reference);
    expect(references).toHaveLength(12);
    expect(new Set(references)).toEqual(new Set(ids.map(String)));
    expect(await a.deliverDue()).toBe(0);
  });

  test('a message enqueued is delivered at once by a sender that listens (MESSAGE_ENQUEUED), in the transaction\'s commit', async () => {
    const s = sender('sms');
    // A database stops listening only when closed: the later tests' messages are not this sender's.
    let on = true;
    await testDb.db.listen(MESSAGE_ENQUEUED, () => on && s.kick(), () => {});
    const outbox = createMessageOutbox(testDb.db);
    await testDb.db.transaction(async (tx) => {
      await outbox.enqueue(code('sms'), tx);
      // Not committed yet: nothing to send.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sms.requests).toHaveLength(0);
    });
    const deadline = Date.now() + 5000;
    while (sms.requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    on = false;
    expect(sms.requests).toHaveLength(1);
  });
});

describe('bookkeeping', () => {
  test('the backlog gauge counts what waits; refusals by a limit are counted', async () => {
    sms.mode = 'error';
    await enqueue(notice('sms'));
    await enqueue(notice('sms'));
    await sender('sms').deliverDue();
    expect(value(await metrics.registry.metrics(), 'kediri_message_outbox_backlog')).toBe(2);
    const before = await counted('sms', 'refused');
    metrics.messageRefused('sms');
    expect(await counted('sms', 'refused')).toBe(before + 1);
  });

  test('the sweep deletes what was sent or given up more than a day ago, nothing else', async () => {
    const [oldSent, oldFailed, recent, waiting] = [await enqueue(notice('sms')), await enqueue(notice('sms')), await enqueue(notice('sms')), await enqueue(notice('sms'))];
    await testDb.db.query("update message_outbox set sent_at = now() - interval '25 hours' where id = $1", [oldSent]);
    await testDb.db.query("update message_outbox set failed_at = now() - interval '2 days' where id = $1", [oldFailed]);
    await testDb.db.query("update message_outbox set sent_at = now() - interval '23 hours' where id = $1", [recent]);
    await testDb.db.query("update message_outbox set created_at = now() - interval '3 days' where id = $1", [waiting]);
    expect(await createMessageOutbox(testDb.db).sweep(100)).toBe(2);
    const { rows } = await testDb.db.query<{ id: number }>('select id::int as id from message_outbox order by id');
    expect(rows.map((r) => r.id)).toEqual([recent, waiting]);
  });

  test('the log names deliveries and failures with the masked number, never the number, the code or a token', () => {
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.some((l) => l.msg === 'phone message sent' && l.to === MASKED && typeof l.outboxId === 'number' && l.channel === 'whatsapp')).toBe(true);
    expect(logged.some((l) => l.msg === 'phone message delivery failed' && l.to === MASKED && l.reason === 'HTTP 503')).toBe(true);
    expect(logged.some((l) => l.msg === 'phone message given up' && l.reason === 'expired')).toBe(true);
    const all = lines.join('\n');
    for (const secret of [CODE, WA_TOKEN, SMS_TOKEN, PHONE, PHONE.slice(1)]) expect(all).not.toContain(secret);
  });
});

describe('without MESSAGE_GATEWAY (a local trial)', () => {
  test('both channels are offered and the log delivers, the code visible and the number masked', async () => {
    const config = loadConfig({ ...TEST_ENV });
    expect(availableChannels(config)).toEqual(['whatsapp', 'sms']);
    const own: string[] = [];
    const ownLog = capture(own);
    const id = await enqueue(code('whatsapp'));
    await createMessageSender(testDb.db, ownLog, { gateways: createGateways(config, ownLog) }).deliverDue();
    expect(await row(id)).toMatchObject({ sent_at: expect.any(Date), sent_channel: 'whatsapp' });
    const line = own.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'phone message (no MESSAGE_GATEWAY: written to the log)')!;
    expect(line).toMatchObject({ to: MASKED, channel: 'whatsapp', outboxId: id, body: CODE_BODY });
    expect(own.join('\n')).not.toContain(PHONE);
  });

  test('with gateways configured, only those are offered', () => {
    expect(availableChannels(loadConfig({ ...TEST_ENV, ...gatewayEnv('sms') }))).toEqual(['sms']);
    expect(availableChannels(loadConfig({ ...TEST_ENV, ...gatewayEnv('sms,whatsapp') }))).toEqual(['whatsapp', 'sms']);
  });
});
