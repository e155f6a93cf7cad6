import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { LOGO_MAX_BYTES } from '../../clients/units.js';
import { STAFF_ROLES } from '../../identity/staff.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import { acceptUpload } from '../upload.js';
import type { AdminModule } from './router.js';
import { isUuid } from '../../ids.js';

const unitForm = z.object({ slug: field(64), name: field(200) });
const renameForm = z.object({ name: field(200) });
const inviteForm = z.object({ email: field(254), role: z.enum(STAFF_ROLES), unit: field(64) });
const revokeForm = z.object({ role: z.enum(STAFF_ROLES) });

/** Units (/admin/unit: add, rename, logo) and staff with their roles (/admin/staf: invite, revoke). */
export const unitAndStaffRoutes: AdminModule = (router, { units, staff }, recentLogin) => {
  const showUnits = async (ctx: Context, errors: object[] = [], status = 200, values: object = {}) =>
    render(ctx, 'admin/units', { units: await units.list(), errors, values }, status);

  router.get('/unit', (ctx) => showUnits(ctx));

  router.post('/unit', async (ctx) => {
    const form = parseForm(ctx, unitForm);
    try {
      await units.create(form.slug, form.name, ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || !error.field) throw error;
      return showUnits(ctx, fieldErrors(ctx, [error]), 400, form);
    }
    seeOther(ctx, '/admin/unit');
  });

  router.post('/unit/:slug', async (ctx) => {
    await units.rename(String(ctx.params.slug), parseForm(ctx, renameForm).name, ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/unit');
  });

  router.post('/unit/:slug/logo', acceptUpload('logo', LOGO_MAX_BYTES), async (ctx) => {
    const logo: Buffer | undefined = ctx.state.upload;
    if (!logo) throw new InputError('unit_logo_invalid', 'logo');
    await units.setLogo(String(ctx.params.slug), logo, ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/unit');
  });

  const showStaff = async (ctx: Context, errors: object[] = [], status = 200, notice?: string) =>
    render(ctx, 'admin/staff', { members: await staff.list(), invitations: await staff.pendingInvitations(), units: await units.list(), roles: STAFF_ROLES, errors, notice }, status);

  router.get('/staf', (ctx) => showStaff(ctx, [], 200, ctx.query.diundang === '1' ? 'invited' : undefined));

  router.post('/staf/undang', recentLogin, async (ctx) => {
    const form = parseForm(ctx, inviteForm);
    try {
      await staff.invite({ email: form.email, role: form.role, ...(form.role === 'developer' && { unit: form.unit }) }, ctx.state.accountId, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || !error.field) throw error;
      return showStaff(ctx, fieldErrors(ctx, [error]), 400);
    }
    seeOther(ctx, '/admin/staf?diundang=1');
  });

  router.post('/staf/undangan/:id/batal', async (ctx) => {
    await staff.cancelInvitation(String(ctx.params.id), ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/staf');
  });

  router.post('/staf/:id/cabut', async (ctx) => {
    const { role } = parseForm(ctx, revokeForm);
    if (!isUuid(String(ctx.params.id))) throw new InputError('staff_role_unknown');
    // An administrator cannot take away their own admin role: the console must keep one.
    if (role === 'admin' && ctx.params.id === ctx.state.accountId) throw new InputError('own_admin_role');
    await staff.revoke(String(ctx.params.id), role, ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/staf');
  });
};
