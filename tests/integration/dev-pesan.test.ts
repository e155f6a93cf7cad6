import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestServer, type TestServer } from '../support/server.js';

let on: TestServer;
let off: TestServer;

beforeAll(async () => {
  [on, off] = await Promise.all([startTestServer({ DEV_MAIL: 'true' }), startTestServer({ DEV_MAIL: 'false' })]);
});
afterAll(async () => {
  await Promise.all([on.close(), off.close()]);
});

describe('/dev/pesan', () => {
  test('shows the newest messages with the full number and the code, escaped, Bahasa Indonesia first', async () => {
    const outbox = on.instance.messages;
    await outbox.enqueue({ to: '+6281234567890', channel: 'whatsapp', kind: 'code', body: 'Kediri ID: 482913 adalah kode untuk masuk.', code: '482913', expiresAt: new Date(Date.now() + 300_000) });
    await outbox.enqueue({ to: '+6285600001111', channel: 'sms', kind: 'notice', body: 'Kediri ID: <b>pemberitahuan</b>' });
    await on.testDb.db.query("update message_outbox set sent_at = now(), sent_channel = 'sms' where kind = 'notice'");

    const res = await fetch(`${on.url}/dev/pesan`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Pesan WhatsApp dan SMS (uji coba lokal)');
    expect(html).toContain('+6281234567890');
    expect(html).toContain('<strong>482913</strong>');
    expect(html).toContain('Terkirim lewat SMS');
    expect(html).toContain('Belum terkirim (percobaan: 0)');
    expect(html).toContain('&lt;b&gt;pemberitahuan&lt;/b&gt;');
    // The newest first.
    expect(html.indexOf('+6285600001111')).toBeLessThan(html.indexOf('+6281234567890'));

    const english = await (await fetch(`${on.url}/dev/pesan?lang=en`)).text();
    expect(english).toContain('WhatsApp and SMS messages (local trial)');
    expect(english).toContain('Sent by SMS');
  });

  test('does not exist when DEV_MAIL is off', async () => {
    expect((await fetch(`${off.url}/dev/pesan`)).status).toBe(404);
  });
});
