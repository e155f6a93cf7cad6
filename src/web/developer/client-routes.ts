import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { compare, formOf } from '../../clients/registration.js';
import type { UnitClient } from '../../clients/clients.js';
import { InputError } from '../../errors.js';
import type { AppDeps } from '../app.js';
import { field, message, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { DeveloperAccess } from './access.js';
import { postedForm, renderForm } from './form-page.js';
import { checkSubmission, checkUploadedJwks, pageErrors, type PageErrors } from './submission.js';

const rotateForm = z.object({ confirm: field(10) });
const jwksForm = z.object({ jwks: field(20_000) });

/** Only an approved client (active or suspended) takes change requests. */
const approved = (client: UnitClient) => client.status === 'active' || client.status === 'suspended';

/**
 * A client of the developer's unit (/developer/layanan/:clientId): its live registration, a
 * change request (ubah), a new secret (rahasia, shown once) and new public keys (jwks).
 */
export function clientRoutes(router: Router, { provider, clientRequests }: AppDeps, access: DeveloperAccess, recentLogin: Middleware): void {
  const clientPath = (client: UnitClient) => `/developer/layanan/${encodeURIComponent(client.clientId)}`;

  /** The client's page; after a failed action, its errors and the JWKS as posted. */
  async function renderClient(ctx: Context, client: UnitClient, failed?: { errors: PageErrors; jwks?: string }) {
    const live = await clientRequests.liveRegistration(client.clientId);
    render(
      ctx,
      'developer/client',
      {
        client,
        live,
        details: live ? compare(live, undefined) : [],
        approved: approved(client),
        openRequest: await access.openRequest(client),
        notice: ctx.query.jwks === '1' ? 'jwks_saved' : undefined,
        errors: failed?.errors ?? [],
        jwks: failed?.jwks ?? '',
      },
      failed ? 400 : 200,
    );
  }

  /** The client for a change request, or the page saying why it takes none. */
  async function changeable(ctx: Context): Promise<UnitClient | undefined> {
    const client = await access.client(ctx, ctx.params.clientId!);
    if (approved(client)) return client;
    render(ctx, 'error', { message: message(ctx, 'developer.error.client_not_approved'), backHref: clientPath(client) }, 409);
    return undefined;
  }

  router.get('/layanan/:clientId', async (ctx) => renderClient(ctx, await access.client(ctx, ctx.params.clientId!)));

  router.get('/layanan/:clientId/ubah', async (ctx) => {
    const client = await changeable(ctx);
    if (!client) return;
    const live = await clientRequests.liveRegistration(client.clientId);
    renderForm(ctx, { values: formOf(live!), client, openRequest: await access.openRequest(client) });
  });

  router.post('/layanan/:clientId/ubah', recentLogin, async (ctx) => {
    const form = parseForm(ctx, postedForm);
    const client = await changeable(ctx);
    if (!client) return;
    const checked = await checkSubmission(provider, form);
    if (!checked.ok) return renderForm(ctx, { values: form, client, errors: pageErrors(ctx, checked.problems) }, 400);
    try {
      const id = await clientRequests.submit({ unit: client.unit, registration: checked.registration, submittedBy: ctx.state.accountId, clientId: client.clientId });
      seeOther(ctx, `/developer/permintaan/${id}`);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      const openRequest = await access.openRequest(client);
      renderForm(ctx, { values: form, client, openRequest, errors: pageErrors(ctx, [error]) }, error.code === 'request_already_open' ? 409 : 400);
    }
  });

  // A new secret replaces the old one at once: the page shows it, once.
  router.post('/layanan/:clientId/rahasia', recentLogin, async (ctx) => {
    const { confirm } = parseForm(ctx, rotateForm);
    const client = await access.client(ctx, ctx.params.clientId!);
    if (confirm !== 'ya') return renderClient(ctx, client, { errors: pageErrors(ctx, [new InputError('confirm_required', 'confirm')]) });
    try {
      const secret = await clientRequests.rotateSecret(client.clientId, ctx.state.accountId, ctx.ip);
      render(ctx, 'developer/secret', { client, secret, rotated: true });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      await renderClient(ctx, client, { errors: pageErrors(ctx, [error]) });
    }
  });

  router.post('/layanan/:clientId/jwks', recentLogin, async (ctx) => {
    const form = parseForm(ctx, jwksForm);
    const client = await access.client(ctx, ctx.params.clientId!);
    try {
      await clientRequests.setJwks(client.clientId, await checkUploadedJwks(provider, form.jwks), ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return renderClient(ctx, client, { errors: pageErrors(ctx, [error]), jwks: form.jwks });
    }
    seeOther(ctx, `${clientPath(client)}?jwks=1`);
  });
}
