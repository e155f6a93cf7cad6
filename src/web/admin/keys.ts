import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

/** The states a key may be revoked in: the ones still published. */
const REVOCABLE = ['next', 'current', 'previous'];
/** A refused revocation's status: the key named is none of ours, or it is already out of use. */
const REFUSAL_STATUS: Record<string, number> = { key_unknown: 404, key_already_revoked: 409, key_retired: 409, key_revocation_unconfirmed: 400 };
/** The confirmation page's two ticks (value "ya"). */
const revokeForm = z.object({ confirm: field(10), end_sessions: field(10) });

/**
 * Signing keys (/admin/kunci): their states and times, a rotation, and an emergency revocation
 * (oidc/key-revocation.ts) after a confirmation page that names the key and asks whether to end
 * the sessions it may have signed for.
 */
export const keyRoutes: AdminModule = (router, { signingKeys, keyRevocation }, recentLogin) => {
  const show = async (ctx: Context, errors: object[] = [], status = 200) =>
    render(ctx, 'admin/keys', { keys: await signingKeys.list(), rotated: ctx.query.dirotasi === '1', revoked: ctx.query.dicabut === '1', revocable: REVOCABLE, errors }, status);

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

  /** The confirmation page of one key; a key that is not published (or none) gets the list with why. */
  const confirmation = async (ctx: Context, errors: object[] = [], status = 200) => {
    const key = (await signingKeys.list()).find((candidate) => candidate.kid === ctx.params.kid);
    if (!key || !REVOCABLE.includes(key.state)) {
      const refusal = !key ? 'key_unknown' : key.state === 'revoked' ? 'key_already_revoked' : 'key_retired';
      return show(ctx, fieldErrors(ctx, [new InputError(refusal)]), REFUSAL_STATUS[refusal]);
    }
    render(ctx, 'admin/key-revoke', { key, errors }, status);
  };

  router.get('/kunci/:kid/cabut', recentLogin, (ctx) => confirmation(ctx));

  router.post('/kunci/:kid/cabut', recentLogin, async (ctx) => {
    const form = parseForm(ctx, revokeForm);
    if (form.confirm !== 'ya') return confirmation(ctx, fieldErrors(ctx, [new InputError('key_revocation_unconfirmed', 'confirm')]), 400);
    try {
      await keyRevocation.revoke(ctx.params.kid!, { actor: ctx.state.accountId, endSessions: form.end_sessions === 'ya' });
    } catch (error) {
      if (!(error instanceof InputError) || !(error.code in REFUSAL_STATUS)) throw error;
      return show(ctx, fieldErrors(ctx, [error]), REFUSAL_STATUS[error.code]);
    }
    seeOther(ctx, '/admin/kunci?dicabut=1');
  });
};
