import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Account } from '../../identity/account.js';
import type { Citizen, CitizenStore } from '../../identity/citizens.js';
import { addressParts, checkNewEmail, type Profile } from '../../identity/profile.js';
import type { Throttle } from '../../identity/throttle.js';
import { InputError } from '../../errors.js';
import { maskNik } from '../../identity/nik.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { render } from '../render.js';
import { withinIpLimit } from '../throttling.js';

const profileForm = z.object({
  name: typed,
  street: typed,
  rt: typed,
  rw: typed,
  kelurahan: typed,
  kecamatan: typed,
  city: typed,
  province: typed,
  postal_code: typed,
});
const emailForm = z.object({ email: typed, password: typed });
const codeForm = z.object({ code: typed });
const linkForm = z.object({ token: field(200) });

/**
 * Profile edits on the account page: /akun/profil (name while unverified, address; the phone has
 * its own page, phone-routes.ts) and the
 * email change (/akun/email, after a recent login and with the password), proved by a code (/akun/email/verifikasi) or by the emailed link
 * (/akun/email/konfirmasi, which works without a sign-in: the token itself is the proof).
 */
export function profileRoutes(
  { profile, citizens, account, throttle }: { profile: Profile; citizens: CitizenStore; account: Account; throttle: Throttle },
  { signedIn, recentLogin }: { signedIn: Middleware; recentLogin: Middleware },
): Router {
  const router = new Router({ prefix: '/akun' });
  const citizenOf = async (ctx: Context): Promise<Citizen> => {
    const citizen = await citizens.findById(ctx.state.accountId);
    if (!citizen) throw new InputError('account_unknown');
    return citizen;
  };

  async function renderProfile(ctx: Context, values?: Record<string, string>, errors: object[] = [], status = 200) {
    const citizen = await citizenOf(ctx);
    render(
      ctx,
      'account/profile',
      {
        citizen,
        nik: maskNik((await citizens.nikOf(citizen.id))!),
        values: values ?? { name: citizen.name, ...addressParts(citizen.address) },
        notice: ['tersimpan', 'email', 'telepon', 'telepon_dihapus'].find((key) => ctx.query[key] === '1'),
        errors,
      },
      status,
    );
  }

  router.get('/profil', signedIn, (ctx) => renderProfile(ctx));

  router.post('/profil', signedIn, async (ctx) => {
    const form = parseForm(ctx, profileForm);
    const { name, ...address } = form;
    const saved = await profile.save(ctx.state.accountId, { name, address }, ctx.ip).catch((error: unknown) => {
      if (!(error instanceof InputError) || !error.field) throw error;
      return { ok: false as const, problems: [error] };
    });
    if (!saved.ok) return renderProfile(ctx, form, fieldErrors(ctx, saved.problems), 400);
    seeOther(ctx, '/akun/profil?tersimpan=1');
  });

  router.get('/email', recentLogin, async (ctx) => render(ctx, 'account/email', { citizen: await citizenOf(ctx), errors: [] }));

  router.post('/email', recentLogin, async (ctx) => {
    const form = parseForm(ctx, emailForm);
    const citizen = await citizenOf(ctx);
    try {
      const email = checkNewEmail(citizen, form.email);
      // Only the person who knows the password may move the account to another address.
      await account.checkCurrentPassword(citizen, form.password, 'password');
      await profile.requestEmailChange(citizen, email);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return render(ctx, 'account/email', { citizen, values: { email: form.email }, errors: fieldErrors(ctx, [error]) }, error.code === 'email_change_wait' ? 429 : 400);
    }
    seeOther(ctx, '/akun/email/verifikasi');
  });

  async function renderCode(ctx: Context, errors: object[] = [], status = 200) {
    render(ctx, 'account/email-code', { pending: await profile.pendingEmail(ctx.state.accountId), errors }, status);
  }

  router.get('/email/verifikasi', signedIn, (ctx) => renderCode(ctx));

  router.post('/email/verifikasi', signedIn, async (ctx) => {
    if (!(await withinIpLimit(ctx, throttle, 'code'))) return;
    const { code } = parseForm(ctx, codeForm);
    try {
      if (await profile.confirmByCode(ctx.state.accountId, code.replace(/\s/g, ''), ctx.ip)) return seeOther(ctx, '/akun/profil?email=1');
      throw new InputError('email_code_invalid', 'code');
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return renderCode(ctx, fieldErrors(ctx, [error]), 400);
    }
  });

  router.get('/email/konfirmasi', (ctx) => {
    const token = ctx.query.token;
    const valid = typeof token === 'string' && token.length > 0 && token.length <= 200;
    // A button, not an automatic use: mail scanners that open links must not spend the token.
    render(ctx, 'account/email-link', valid ? { token, errors: [] } : { errors: fieldErrors(ctx, [new InputError('email_link_invalid')]) }, valid ? 200 : 400);
  });

  router.post('/email/konfirmasi', async (ctx) => {
    const { token } = parseForm(ctx, linkForm);
    try {
      if (await profile.confirmByLink(token, ctx.ip)) return render(ctx, 'account/email-link', { done: true, errors: [] });
      throw new InputError('email_link_invalid');
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return render(ctx, 'account/email-link', { errors: fieldErrors(ctx, [error]) }, 400);
    }
  });

  return router;
}
