import Router from '@koa/router';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import type { PasswordReset } from '../../identity/password-reset.js';
import { PASSWORD_MAX } from '../../identity/password-policy.js';
import { field, fieldErrors, parseForm } from '../forms.js';
import { render } from '../render.js';
import { withinIpLimit } from '../throttling.js';
import type { Throttle } from '../../identity/throttle.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const requestForm = z.object({ email: field(320) });
const newPasswordForm = z.object({ token: field(200), password: field(PASSWORD_MAX * 4), password_confirm: field(PASSWORD_MAX * 4) });

/** Password reset by email (/lupa-sandi). */
export function resetRoutes(reset: PasswordReset, throttle: Throttle): Router {
  const router = new Router({ prefix: '/lupa-sandi' });

  router.get('/', (ctx) => render(ctx, 'reset/request', { email: '', errors: [] }));

  router.post('/', async (ctx) => {
    const { email } = parseForm(ctx, requestForm);
    if (!(await withinIpLimit(ctx, throttle, 'reset'))) return;
    if (!EMAIL.test(email.trim())) {
      return render(ctx, 'reset/request', { email, errors: fieldErrors(ctx, [new InputError('email_invalid', 'email')]) }, 400);
    }
    // The same page whether or not the address has an account, and whether or not a link went out.
    await reset.request(email, ctx.ip);
    render(ctx, 'reset/sent');
  });

  router.get('/atur', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token.slice(0, 200) : '';
    const email = token ? await reset.accountEmail(token) : undefined;
    if (!email) return render(ctx, 'reset/invalid', {}, 400);
    render(ctx, 'reset/form', { token, email, errors: [] });
  });

  router.post('/atur', async (ctx) => {
    const form = parseForm(ctx, newPasswordForm);
    // A dead link is said first: fixing the passwords would not help.
    const email = form.token ? await reset.accountEmail(form.token) : undefined;
    if (!email) return render(ctx, 'reset/invalid', {}, 400);
    if (form.password !== form.password_confirm) {
      const errors = fieldErrors(ctx, [new InputError('password_mismatch', 'password_confirm')]);
      return render(ctx, 'reset/form', { token: form.token, email, errors }, 400);
    }
    try {
      await reset.complete(form.token, form.password, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      if (error.code === 'reset_token_invalid') return render(ctx, 'reset/invalid', {}, 400);
      return render(ctx, 'reset/form', { token: form.token, email, errors: fieldErrors(ctx, [error]) }, 400);
    }
    render(ctx, 'reset/done');
  });

  return router;
}
