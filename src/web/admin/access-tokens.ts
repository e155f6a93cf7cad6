import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { HOURS_MAX, USES_MAX } from '../../clients/dynamic-registration.js';
import { field, parseForm, seeOther } from '../forms.js';
import { translator } from '../../i18n.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

const issueForm = z.object({ unit: field(64), uses: field(5), hours: field(5) });
const DEFAULTS = { uses: '1', hours: '24' };
const LIMITS = { uses: USES_MAX, hours: HOURS_MAX };

/**
 * Initial access tokens for RFC 7591 dynamic registration (/admin/token-registrasi): the list
 * (never the tokens themselves), issuing one for a unit (shown once), and revoking one.
 */
export const accessTokenRoutes: AdminModule = (router, { dynamicRegistration, units }, recentLogin) => {
  const show = async (ctx: Context, errors: object[] = [], status = 200, values: object = DEFAULTS) =>
    render(ctx, 'admin/access-tokens', {
      tokens: await dynamicRegistration.listAccessTokens(),
      units: await units.list(),
      limits: LIMITS,
      errors,
      values,
    }, status);

  router.get('/token-registrasi', (ctx) => show(ctx));

  router.post('/token-registrasi', recentLogin, async (ctx) => {
    const form = parseForm(ctx, issueForm);
    const whole = (text: string) => (/^\d{1,5}$/.test(text.trim()) ? Number(text) : NaN);
    try {
      const issued = await dynamicRegistration.issueAccessToken({ unit: form.unit, uses: whole(form.uses), expiresInHours: whole(form.hours) }, ctx.state.accountId, ctx.ip);
      const unit = (await units.list()).find((u) => u.slug === form.unit);
      // The token is on this page only: not in a redirect, not in any cache.
      ctx.set('Cache-Control', 'no-store');
      render(ctx, 'admin/access-tokens-issued', { token: issued.token, unitName: unit?.name ?? form.unit, uses: whole(form.uses), expiresAt: issued.expiresAt });
    } catch (error) {
      if (!(error instanceof InputError) || !error.field) throw error;
      const max = LIMITS[error.field as keyof typeof LIMITS] ?? 0;
      const errors = [{ field: error.field, message: translator(ctx.state.lang)(`access-tokens.error.${error.code}`, { max }) }];
      return show(ctx, errors, 400, form);
    }
  });

  router.post('/token-registrasi/:id/cabut', async (ctx) => {
    await dynamicRegistration.revokeAccessToken(String(ctx.params.id), ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/admin/token-registrasi');
  });
};
