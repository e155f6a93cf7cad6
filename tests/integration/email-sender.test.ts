import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { createOutbox } from '../../src/email/outbox.js';
import { createSender } from '../../src/email/sender.js';
import { createTestDb, type TestDb } from '../support/db.js';

/** A real SMTP server on 127.0.0.1 that keeps what it receives, or refuses it when told to. */
async function startSmtp() {
  const received: string[] = [];
  const state = { refuse: false };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, callback) {
      let data = '';
      stream.on('data', (chunk: Buffer) => (data += chunk.toString()));
      stream.on('end', () => {
        if (state.refuse) return callback(new Error('mailbox unavailable'));
        received.push(data);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, received, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let testDb: TestDb;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  testDb = await createTestDb();
  smtp = await startSmtp();
});
afterAll(async () => {
  await smtp.close();
  await testDb.drop();
});

const row = async (to: string) =>
  (await testDb.db.query<{ sent_at: Date | null; failed_at: Date | null; attempts: number; last_error: string | null; due_in: number }>(
    `select sent_at, failed_at, attempts, last_error, extract(epoch from send_after - now())::int as due_in
     from outbox where to_address = $1`,
    [to],
  )).rows[0]!;

describe('the email sender', () => {
  test('delivers what is due through SMTP, once, even with two senders at work', async () => {
    const outbox = createOutbox(testDb.db);
    for (const n of [1, 2, 3]) await outbox.enqueue({ to: `warga${n}@example.id`, subject: `Pesan ${n}`, body: `Isi pesan ${n}` });
    const a = createSender(testDb.db, silent, { smtpUrl: smtp.url, from: 'Kediri ID <no-reply@kedirikota.go.id>' });
    const b = createSender(testDb.db, silent, { smtpUrl: smtp.url, from: 'Kediri ID <no-reply@kedirikota.go.id>' });
    const counts = await Promise.all([a.deliverDue(), b.deliverDue()]);
    expect(counts[0]! + counts[1]!).toBe(3);
    expect(smtp.received).toHaveLength(3);
    expect(smtp.received.join()).toContain('Isi pesan 2');
    expect((await row('warga2@example.id')).sent_at).toBeInstanceOf(Date);
    expect(await a.deliverDue()).toBe(0);
    a.close();
    b.close();
  });

  test('a refused message is retried later with a growing delay, and given up after eight attempts', async () => {
    const outbox = createOutbox(testDb.db);
    await outbox.enqueue({ to: 'ditolak@example.id', subject: 'Coba', body: 'Isi' });
    const sender = createSender(testDb.db, silent, { smtpUrl: smtp.url, from: 'no-reply@kedirikota.go.id' });
    smtp.state.refuse = true;
    await sender.deliverDue();
    const first = await row('ditolak@example.id');
    expect(first).toMatchObject({ sent_at: null, failed_at: null, attempts: 1 });
    expect(first.last_error).toContain('mailbox unavailable');
    expect(first.due_in).toBeGreaterThanOrEqual(25);
    // Not due yet: nothing is sent.
    expect(await sender.deliverDue()).toBe(0);

    await testDb.db.query("update outbox set send_after = now() where to_address = 'ditolak@example.id'");
    await sender.deliverDue();
    expect((await row('ditolak@example.id')).due_in).toBeGreaterThanOrEqual(55);

    for (let attempt = 3; attempt <= 8; attempt++) {
      await testDb.db.query("update outbox set send_after = now() where to_address = 'ditolak@example.id'");
      await sender.deliverDue();
    }
    expect(await row('ditolak@example.id')).toMatchObject({ attempts: 8, sent_at: null, failed_at: expect.any(Date) });
    await testDb.db.query("update outbox set send_after = now() where to_address = 'ditolak@example.id'");
    expect(await sender.deliverDue()).toBe(0);
    smtp.state.refuse = false;
    sender.close();
  });

  test('without SMTP_URL the message goes to the log, with the address masked', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    await createOutbox(testDb.db).enqueue({ to: 'catat@example.id', subject: 'Ke log', body: 'Tautan https://id.example/verifikasi?token=abc' });
    await createSender(testDb.db, log, { smtpUrl: undefined, from: 'x@y.id' }).deliverDue();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, string>).find((l) => l.subject === 'Ke log')!;
    expect(logged.to).toBe('c***@example.id');
    expect(logged.body).toContain('verifikasi?token=abc');
    expect(lines.join()).not.toContain('catat@example.id');
    expect((await row('catat@example.id')).sent_at).toBeInstanceOf(Date);
  });
});
