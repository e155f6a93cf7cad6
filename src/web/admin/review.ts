import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { SENSITIVE_SCOPES, type SensitiveScope } from '../../clients/registration.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

const approveForm = z.object({ allow: z.union([z.string().max(20), z.array(z.string().max(20)).max(5)]).default([]) });
const rejectForm = z.object({ reason: field(1000) });
const statusForm = z.object({ status: z.enum(['active', 'suspended']) });
const profileForm = z.object({ subject_type: z.enum(['pairwise', 'public']), high_assurance: field(4), ciba: field(4), kiosk: field(4) });

/**
 * The review queue (/admin/permintaan): each request with, side by side, the live client it would
 * change; approve (ticking each sensitive scope the client may have) or reject with a reason. And
 * the clients by unit (/admin/layanan), suspended and reactivated, each with its settings (subject
 * type, high assurance, CIBA, kiosk).
 */
export const reviewRoutes: AdminModule = (router, { clientRequests }, recentLogin) => {
  router.get('/permintaan', async (ctx) => render(ctx, 'admin/requests', { requests: await clientRequests.queue() }));

  async function showRequest(ctx: Context, errors: object[] = [], status = 200) {
    const found = await clientRequests.withComparison(String(ctx.params.id));
    if (!found) throw new InputError('request_unknown');
    const sensitive = SENSITIVE_SCOPES.filter((scope) => found.request.details.scopes.includes(scope));
    render(ctx, 'admin/request', { ...found, sensitive, errors }, status);
  }

  router.get('/permintaan/:id', (ctx) => showRequest(ctx));

  router.post('/permintaan/:id/setujui', recentLogin, async (ctx) => {
    const allowed = [parseForm(ctx, approveForm).allow].flat();
    if (allowed.some((scope) => !(SENSITIVE_SCOPES as readonly string[]).includes(scope))) throw new InputError('scope_invalid');
    const clientId = await clientRequests.approve(String(ctx.params.id), ctx.state.accountId, allowed as SensitiveScope[], ctx.ip);
    seeOther(ctx, `/admin/layanan?disetujui=${encodeURIComponent(clientId)}`);
  });

  router.post('/permintaan/:id/tolak', async (ctx) => {
    const { reason } = parseForm(ctx, rejectForm);
    try {
      await clientRequests.reject(String(ctx.params.id), ctx.state.accountId, reason, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || error.code !== 'rejection_reason_required') throw error;
      return showRequest(ctx, fieldErrors(ctx, [error]), 400);
    }
    seeOther(ctx, '/admin/permintaan');
  });

  router.get('/layanan', async (ctx) =>
    render(ctx, 'admin/clients', { clients: await clientRequests.clients(), approved: typeof ctx.query.disetujui === 'string' ? ctx.query.disetujui : undefined }),
  );

  // One client's settings beyond its registration: subject type, high assurance (FAPI 2.0), CIBA, kiosk.
  async function showClient(ctx: Context, errors: object[] = [], status = 200) {
    const clientId = String(ctx.params.clientId);
    const [client, profile] = [await clientRequests.client(clientId), await clientRequests.profile(clientId)];
    if (!client || !profile) throw new InputError('client_unknown');
    render(ctx, 'admin/client', { client, profile, saved: ctx.query.disimpan === '1', errors }, status);
  }

  router.get('/layanan/:clientId', (ctx) => showClient(ctx));

  router.post('/layanan/:clientId/pengaturan', async (ctx) => {
    const form = parseForm(ctx, profileForm);
    try {
      await clientRequests.setProfile(
        String(ctx.params.clientId),
        { subjectType: form.subject_type, highAssurance: form.high_assurance === 'ya', ciba: form.ciba === 'ya', kiosk: form.kiosk === 'ya' },
        ctx.state.accountId, ctx.ip,
      );
    } catch (error) {
      if (!(error instanceof InputError) || !error.field) throw error;
      return showClient(ctx, fieldErrors(ctx, [error]), 400);
    }
    seeOther(ctx, `/admin/layanan/${encodeURIComponent(String(ctx.params.clientId))}?disimpan=1`);
  });

  router.post('/layanan/:clientId/status', async (ctx) => {
    const { status } = parseForm(ctx, statusForm);
    await clientRequests.setStatus(String(ctx.params.clientId), status, ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/layanan');
  });
};
