import Router from '@koa/router';
import type { Outbox } from '../email/outbox.js';
import { render } from './render.js';

/** /dev/mail: the outbox as a page, so that a person trying Kediri ID locally can click the links. */
export function devMailRoutes(outbox: Outbox): Router {
  const router = new Router();
  router.get('/dev/mail', async (ctx) => {
    const messages = (await outbox.newest()).map((m) => ({
      id: m.id,
      to: m.to,
      subject: m.subject,
      created: m.created_at.toISOString(),
      sent: m.sent_at !== null,
      body: m.body,
      links: [...new Set(m.body.match(/https?:\/\/\S+/g) ?? [])],
    }));
    render(ctx, 'dev/mail', { messages });
  });
  return router;
}
