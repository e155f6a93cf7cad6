import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { ACR_VALUES } from '../../identity/assurance.js';
import { CATALOGUE_KINDS, type RawEntry } from '../../clients/catalogue-entry.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

const rejectForm = z.object({ reason: field(1000) });

const entryForm = z.object({
  unit: field(64),
  name: typed,
  description_id: typed,
  description_en: typed,
  kind: field(20),
  client_id: field(200),
  acr: field(100),
  position: field(10),
});

/** The order within a unit: a whole number 0 to 9999, or undefined for anything else. */
const positionOf = (text: string): number | undefined => (/^\d{1,4}$/.test(text.trim()) ? Number(text.trim()) : undefined);

/**
 * The service catalogue (/admin/katalog): its entries with their clients, added, changed and
 * deleted by an administrator (with a recent login), each change audited by the catalogue.
 */
export const catalogueRoutes: AdminModule = (router, { catalogue, catalogueProposals, clientRequests, units }, recentLogin) => {
  async function showList(ctx: Context, errors: object[] = [], status = 200) {
    const notice = ctx.query.disimpan === '1' ? 'saved' : ctx.query.dihapus === '1' ? 'deleted' : undefined;
    const [entries, proposals] = await Promise.all([catalogue.all(), catalogueProposals.pending()]);
    render(ctx, 'admin/catalogue', { entries, proposals, notice, errors }, status);
  }

  router.get('/katalog', (ctx) => showList(ctx));

  // A developer's proposed text: approved (written to the catalogue) or rejected with a reason.
  router.post('/katalog/usulan/:id/setujui', recentLogin, async (ctx) => {
    await catalogueProposals.approve(String(ctx.params.id), ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/katalog?disimpan=1');
  });

  router.post('/katalog/usulan/:id/tolak', recentLogin, async (ctx) => {
    const { reason } = parseForm(ctx, rejectForm);
    try {
      await catalogueProposals.reject(String(ctx.params.id), reason, ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || error.code !== 'rejection_reason_required') throw error;
      return showList(ctx, fieldErrors(ctx, [error]), 400);
    }
    seeOther(ctx, '/admin/katalog?disimpan=1');
  });

  async function showForm(ctx: Context, values: Partial<RawEntry & { position: string }>, errors: object[] = [], status = 200) {
    const [unitList, clients] = await Promise.all([units.list(), clientRequests.clients()]);
    render(ctx, 'admin/catalogue-entry', {
      id: ctx.params.id,
      values,
      errors,
      units: unitList,
      clients: clients.filter((c) => c.status === 'active'),
      kinds: CATALOGUE_KINDS,
      levels: ACR_VALUES,
    }, status);
  }

  router.get('/katalog/baru', (ctx) => showForm(ctx, { kind: 'counter', acr: ACR_VALUES[0] }));

  router.post('/katalog/baru', recentLogin, async (ctx) => {
    const form = parseForm(ctx, entryForm);
    const done = await catalogue.create(form, ctx.state.accountId, ctx.ip);
    if ('problems' in done) return showForm(ctx, form, fieldErrors(ctx, done.problems), 400);
    seeOther(ctx, '/admin/katalog?disimpan=1');
  });

  router.get('/katalog/:id', async (ctx) => {
    const entry = await catalogue.get(String(ctx.params.id));
    if (!entry) throw new InputError('catalogue_entry_unknown');
    await showForm(ctx, {
      unit: entry.unit,
      name: entry.name,
      description_id: entry.descriptionId,
      description_en: entry.descriptionEn,
      kind: entry.kind,
      client_id: entry.clientId ?? '',
      acr: entry.acr,
      position: String(entry.position),
    });
  });

  router.post('/katalog/:id', recentLogin, async (ctx) => {
    const form = parseForm(ctx, entryForm);
    const position = positionOf(form.position);
    if (position === undefined) return showForm(ctx, form, fieldErrors(ctx, [new InputError('catalogue_position_invalid', 'position')]), 400);
    const { problems } = await catalogue.update(String(ctx.params.id), { ...form, position }, ctx.state.accountId, ctx.ip);
    if (problems.length > 0) return showForm(ctx, form, fieldErrors(ctx, problems), 400);
    seeOther(ctx, '/admin/katalog?disimpan=1');
  });

  router.post('/katalog/:id/hapus', recentLogin, async (ctx) => {
    await catalogue.remove(String(ctx.params.id), ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/katalog?dihapus=1');
  });
};
