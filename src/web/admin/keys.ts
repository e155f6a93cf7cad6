import type { Context } from 'koa';
import { InputError } from '../../errors.js';
import { fieldErrors, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

/** Signing keys (/admin/kunci): their states and times, and a rotation (oidc/keys.ts). */
export const keyRoutes: AdminModule = (router, { signingKeys }, recentLogin) => {
  const show = async (ctx: Context, errors: object[] = [], status = 200) =>
    render(ctx, 'admin/keys', { keys: await signingKeys.list(), rotated: ctx.query.dirotasi === '1', errors }, status);

  router.get('/kunci', (ctx) => show(ctx));

  router.post('/kunci/rotasi', recentLogin, async (ctx) => {
    try {
      await signingKeys.rotate(ctx.state.accountId);
    } catch (error) {
      if (!(error instanceof InputError) || error.code !== 'key_rotation_pending') throw error;
      return show(ctx, fieldErrors(ctx, [error]), 409);
    }
    seeOther(ctx, '/admin/kunci?dirotasi=1');
  });
};
