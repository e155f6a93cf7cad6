import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { ACR_VALUES } from '../../identity/assurance.js';
import type { AppDeps } from '../app.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { render } from '../render.js';
import type { DeveloperAccess } from './access.js';

const proposalForm = z.object({
  entry_id: field(40),
  name: typed,
  description_id: typed,
  description_en: typed,
  acr: field(100),
});

/**
 * The catalogue text of the developer's online services (/developer/katalog): a proposal per
 * client (a change to one of its entries, or a new entry), shown once an administrator approves it.
 */
export function catalogueRoutes(router: Router, { catalogue, catalogueProposals, clientRequests }: AppDeps, access: DeveloperAccess): void {
  router.get('/katalog', async (ctx) => {
    const clients = (await clientRequests.clients(await access.unitsOf(ctx))).filter((c) => c.status === 'active');
    const ids = clients.map((c) => c.clientId);
    const [entries, proposals] = await Promise.all([catalogue.forClients(ids), catalogueProposals.forClients(ids)]);
    render(ctx, 'developer/catalogue', { clients, entries, proposals, sent: ctx.query.terkirim === '1' });
  });

  async function showClient(ctx: Context, values: object, errors: object[] = [], status = 200) {
    const client = await access.client(ctx, String(ctx.params.clientId));
    if (client.status !== 'active') return ctx.throw(404);
    const [entries, proposals] = await Promise.all([catalogue.forClients([client.clientId]), catalogueProposals.forClients([client.clientId])]);
    render(ctx, 'developer/catalogue-client', { client, entries, proposals, values, errors, levels: ACR_VALUES }, status);
  }

  router.get('/katalog/:clientId', (ctx) => showClient(ctx, { acr: ACR_VALUES[0] }));

  router.post('/katalog/:clientId', async (ctx) => {
    const form = parseForm(ctx, proposalForm);
    const client = await access.client(ctx, String(ctx.params.clientId));
    const done = await catalogueProposals.submit({ ...form, clientId: client.clientId, entryId: form.entry_id }, ctx.state.accountId, ctx.ip);
    if ('problems' in done) return showClient(ctx, form, fieldErrors(ctx, done.problems), 400);
    seeOther(ctx, '/developer/katalog?terkirim=1');
  });
}

