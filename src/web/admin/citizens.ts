import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { EMAIL } from '../../identity/citizens.js';
import { REASON_MAX, REVEAL_REASON } from '../../identity/citizen-admin.js';
import { typedNik } from '../../identity/nik.js';
import { field, message, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

const searchForm = z.object({ q: field(254) });
const reasonForm = z.object({ reason: field(REASON_MAX) });
/** Longer than a reveal's reason may be, so that a long one gets the field's message, not a bare 400. */
const revealForm = z.object({ reveal_reason: field(REVEAL_REASON.max * 4) });
/** The notices of the citizen's page after a change, by query key. */
const NOTICES = ['dikunci', 'dibuka', 'sesi'];

/** A page error in this area's words (views/locales/<lang>/admin-citizens.json). */
const problem = (ctx: Context, error: InputError) => ({ field: error.field, message: message(ctx, `admin-citizens.error.${error.code}`) });

/**
 * Citizens in the admin console (/admin/warga): find an account by NIK (in a POST body, never in a
 * URL) or email, reveal its NIK for a case or ticket (audited with it), lock or unlock it with a reason, end its sessions.
 */
export const citizenRoutes: AdminModule = (router, { citizenAdmin }, recentLogin) => {
  router.get('/warga', (ctx) => render(ctx, 'admin/citizens', { errors: [] }));

  router.post('/warga/cari', async (ctx) => {
    ctx.state.pagePath = '/admin/warga';
    const query = parseForm(ctx, searchForm).q.trim();
    // The query is never shown again: it may be a NIK.
    if (!typedNik(query) && !EMAIL.test(query)) {
      return render(ctx, 'admin/citizens', { errors: [problem(ctx, new InputError('query_invalid', 'q'))] }, 400);
    }
    render(ctx, 'admin/citizens', { results: await citizenAdmin.search(query, ctx.state.accountId, ctx.ip), errors: [] });
  });

  /** One citizen's page: the NIK masked unless `nik` is given (a reveal). */
  async function showCitizen(ctx: Context, extra: { nik?: string; errors?: object[] } = {}, status = 200) {
    const citizen = await citizenAdmin.find(ctx.params.id!);
    if (!citizen) ctx.throw(404);
    ctx.state.pagePath = `/admin/warga/${citizen.id}`;
    render(ctx, 'admin/citizens-detail', { citizen, notice: NOTICES.find((key) => ctx.query[key] === '1'), errors: [], ...extra }, status);
  }

  router.get('/warga/:id', (ctx) => showCitizen(ctx));

  /** A reveal: only with a reason (a case or ticket reference), kept in its audit entry. */
  router.post('/warga/:id/nik', recentLogin, async (ctx) => {
    const { reveal_reason: reason } = parseForm(ctx, revealForm);
    let nik: string | undefined;
    try {
      nik = await citizenAdmin.revealNik(ctx.state.accountId, ctx.params.id!, reason, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return showCitizen(ctx, { errors: [problem(ctx, error)] }, 400);
    }
    if (!nik) ctx.throw(404);
    await showCitizen(ctx, { nik });
  });

  /** Lock and unlock: a reason is required; the page says what was done. */
  for (const [path, change, notice] of [['kunci', 'lock', 'dikunci'], ['buka', 'unlock', 'dibuka']] as const) {
    router.post(`/warga/:id/${path}`, async (ctx) => {
      const { reason } = parseForm(ctx, reasonForm);
      try {
        if (!(await citizenAdmin[change](ctx.state.accountId, ctx.params.id!, reason, ctx.ip))) ctx.throw(404);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        return showCitizen(ctx, { errors: [problem(ctx, error)] }, 400);
      }
      seeOther(ctx, `/admin/warga/${ctx.params.id}?${notice}=1`);
    });
  }

  router.post('/warga/:id/akhiri-sesi', async (ctx) => {
    if (!(await citizenAdmin.endAllSessions(ctx.state.accountId, ctx.params.id!, ctx.ip))) ctx.throw(404);
    seeOther(ctx, `/admin/warga/${ctx.params.id}?sesi=1`);
  });
};
