import Router from '@koa/router';
import type { MessageOutbox } from '../messaging/outbox.js';
import { render } from './render.js';

/**
 * /dev/pesan: the WhatsApp and SMS outbox as a page, so that a person trying Kediri ID locally can
 * read the codes. Full numbers and codes: like /dev/mail, it is on only when DEV_MAIL is, never in
 * production.
 */
export function devPesanRoutes(outbox: MessageOutbox): Router {
  const router = new Router();
  router.get('/dev/pesan', async (ctx) => {
    const messages = (await outbox.newest()).map((m) => ({
      id: m.id,
      to: m.to,
      channel: m.channel,
      kind: m.kind,
      code: m.code,
      body: m.body,
      created: m.created_at.toISOString(),
      attempts: m.attempts,
      status: m.sent_at ? 'sent' : m.failed_at ? 'failed' : 'pending',
      sentChannel: m.sent_channel,
      lastError: m.last_error,
    }));
    render(ctx, 'dev/pesan', { messages });
  });
  return router;
}
