import Router from '@koa/router';
import type { Context } from 'koa';
import type { Catalogue } from '../clients/catalogue.js';
import { render } from './render.js';

/** The longest search a page takes; longer words are cut there (nothing a service's text holds). */
const QUERY_MAX = 100;

/** A query parameter as one short string: a repeated or missing one is empty. */
const queryText = (ctx: Context, name: string) => {
  const value = ctx.query[name];
  return typeof value === 'string' ? value.slice(0, QUERY_MAX) : '';
};

/**
 * The service catalogue (/layanan): every unit with its services, searched (`?q=`) and filtered
 * by unit (`?unit=`) with a plain GET form, so that it works without JavaScript.
 */
export function catalogueRoutes(catalogue: Catalogue): Router {
  const router = new Router();
  router.get('/layanan', async (ctx) => {
    const q = queryText(ctx, 'q').trim();
    const unit = queryText(ctx, 'unit');
    const [everyUnit, shown] = await Promise.all([catalogue.listed(), catalogue.listed({ q, unit })]);
    const found = shown.reduce((n, u) => n + u.entries.length, 0);
    // A search or a filter shows only the units it found something in.
    const units = q || unit ? shown.filter((u) => u.entries.length > 0) : shown;
    render(ctx, 'catalogue/list', { q, unit, units, found, unitChoices: everyUnit.map(({ slug, name }) => ({ slug, name })) });
  });
  return router;
}
