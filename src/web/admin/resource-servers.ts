import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { ACCESS_TOKEN_TTL, ResourceServerError, type ResourceServer, type ResourceServerSettings } from '../../clients/resource-servers.js';
import { RESOURCE_TOKEN_ALG } from '../../oidc/resource-indicators.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

/**
 * A resource server's form. The fields are named as the store's problems name them, so that the
 * error summary links to them; each takes a little more than the store allows, so that the
 * store's check speaks (with the field's own message) rather than the form's.
 */
const resourceForm = z.object({
  indicator: field(400),
  name: field(200),
  scopes: field(3000),
  clients: field(30_000),
  ttl: field(20),
});
type ResourceForm = z.infer<typeof resourceForm>;

/** Words separated by spaces, commas or line breaks. */
const listOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);

const settingsOf = (form: ResourceForm): ResourceServerSettings => ({
  indicator: form.indicator,
  name: form.name,
  scopes: listOf(form.scopes),
  clientIds: listOf(form.clients),
  // Anything but a whole number is refused by the store's check, with its message.
  accessTokenTtl: /^\s*\d{1,6}\s*$/.test(form.ttl) ? Number(form.ttl) : Number.NaN,
});

const formOf = (server: ResourceServer): ResourceForm => ({
  indicator: server.indicator,
  name: server.name,
  scopes: server.scopes.join(' '),
  clients: server.clientIds.join('\n'),
  ttl: String(server.accessTokenTtl),
});

const NEW_RESOURCE: Partial<ResourceForm> = { ttl: String(ACCESS_TOKEN_TTL.default) };

/**
 * The units' APIs (/admin/api): resource servers that clients ask JWT access tokens for with a
 * resource indicator (RFC 8707), each with the scopes it accepts, the clients that may obtain
 * tokens for it and their lifetime. Adding, changing and removing one takes a recent login (they
 * decide which services may call a unit's API as whom); the store audits each change, and every
 * server process follows it at once.
 */
export const resourceServerRoutes: AdminModule = (router, { resourceServers, clients, config }, recentLogin) => {
  /** Problems for the form, an unknown client's message naming the ids. */
  function problemsOf(ctx: Context, error: ResourceServerError) {
    return fieldErrors(ctx, error.problems).map((problem) =>
      problem.field === 'clients' && error.unknownClients.length > 0
        ? { ...problem, message: `${problem.message} ${error.unknownClients.join(', ')}` }
        : problem);
  }

  async function showList(ctx: Context, values: Partial<ResourceForm> = NEW_RESOURCE, errors: object[] = [], status = 200) {
    render(ctx, 'admin/resource-servers', {
      servers: await resourceServers.list(),
      values,
      errors,
      deleted: ctx.query.dihapus === '1',
      ttl: ACCESS_TOKEN_TTL,
    }, status);
  }

  async function showServer(ctx: Context, server: ResourceServer, values: ResourceForm = formOf(server), errors: object[] = [], status = 200) {
    const allowed = await Promise.all(server.clientIds.map(async (clientId) => ({ clientId, client: await clients.unitClient(clientId) })));
    render(ctx, 'admin/resource-server', {
      server,
      allowed,
      values,
      errors,
      notice: ctx.query.dibuat === '1' ? 'created' : ctx.query.disimpan === '1' ? 'saved' : undefined,
      issuer: config.issuer,
      jwksUri: `${config.issuer}/jwks`,
      alg: RESOURCE_TOKEN_ALG,
      ttl: ACCESS_TOKEN_TTL,
    }, status);
  }

  async function named(ctx: Context): Promise<ResourceServer> {
    const server = await resourceServers.get(String(ctx.params.id));
    if (!server) throw new InputError('resource_unknown');
    return server;
  }

  router.get('/api', (ctx) => showList(ctx));

  router.post('/api', recentLogin, async (ctx) => {
    const form = parseForm(ctx, resourceForm);
    let created: ResourceServer;
    try {
      created = await resourceServers.create(settingsOf(form), ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof ResourceServerError)) throw error;
      return showList(ctx, form, problemsOf(ctx, error), 400);
    }
    seeOther(ctx, `/admin/api/${created.id}?dibuat=1`);
  });

  router.get('/api/:id', async (ctx) => showServer(ctx, await named(ctx)));

  // The indicator stays what it is: it is the audience the API checks (a new one is a new API).
  router.post('/api/:id', recentLogin, async (ctx) => {
    const server = await named(ctx);
    const form = parseForm(ctx, resourceForm);
    try {
      await resourceServers.update(server.id, () => settingsOf({ ...form, indicator: server.indicator }), ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof ResourceServerError)) throw error;
      return showServer(ctx, server, { ...form, indicator: server.indicator }, problemsOf(ctx, error), 400);
    }
    seeOther(ctx, `/admin/api/${server.id}?disimpan=1`);
  });

  router.post('/api/:id/hapus', recentLogin, async (ctx) => {
    const server = await named(ctx);
    await resourceServers.delete(server.id, ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/api?dihapus=1');
  });
};
