import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Account } from '../../identity/account.js';
import type { Citizen, CitizenStore } from '../../identity/citizens.js';
import { totpCodeOf, type SecondFactors } from '../../identity/second-factors.js';
import { CREDENTIAL_ID_MAX, PASSKEY_NAME_MAX, type Passkeys } from '../../identity/passkeys.js';
import { PASSWORD_MAX } from '../../identity/password-policy.js';
import { InputError } from '../../errors.js';
import { field, fieldErrors, parseForm, seeOther } from '../forms.js';
import { render } from '../render.js';
import { translator } from '../../i18n.js';

const password = field(PASSWORD_MAX * 4);
const enrolForm = z.object({ code: field(20), password });
const passkeyForm = z.object({ name: field(PASSKEY_NAME_MAX), password, credential: field(8000) });
const renameForm = z.object({ id: field(CREDENTIAL_ID_MAX), name: field(PASSKEY_NAME_MAX) });
/** factor: 'totp', or the id of a passkey. */
const removeForm = z.object({ factor: field(CREDENTIAL_ID_MAX), password });
const renewForm = z.object({ password });

interface Deps {
  account: Account;
  citizens: CitizenStore;
  secondFactors: SecondFactors;
  passkeys: Passkeys;
}

/**
 * The second factors on the account page: a TOTP app (enrol, remove, enrol again), passkeys
 * (add, rename, remove) and recovery codes (renew). Adding or removing a factor needs a recent
 * login and the password, so that a browser left signed in is not enough to take the account over.
 */
export function factorRoutes(
  { account, citizens, secondFactors, passkeys }: Deps,
  { signedIn, recentLogin }: { signedIn: Middleware; recentLogin: Middleware },
): Router {
  const router = new Router({ prefix: '/akun' });

  const current = async (ctx: Context): Promise<Citizen> => (await citizens.findById(ctx.state.accountId))!;

  /** The password check of a change, as page errors (none when the password is right). */
  async function passwordProblems(ctx: Context, citizen: Citizen, given: string): Promise<object[]> {
    try {
      await account.checkCurrentPassword(citizen, given, 'password');
      return [];
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return fieldErrors(ctx, [error]);
    }
  }

  /** After a factor was added: the new recovery codes, shown once, or back to the account page. */
  function added(ctx: Context, codes: string[] | undefined) {
    if (codes) return render(ctx, 'account/recovery-codes', { codes });
    seeOther(ctx, '/akun?faktor=1');
  }

  // The TOTP app: the QR code, a link that opens the app on this phone, or the secret as text,
  // confirmed by a first code. The link carries the secret: it is in the page (not stored, as
  // every page: Cache-Control no-store), never in a log.
  async function renderEnrolment(ctx: Context, errors: object[] = [], status = 200) {
    const enrolment = await secondFactors.enrolment(await current(ctx));
    if (!enrolment) return seeOther(ctx, '/akun');
    const secret = enrolment.secret.replace(/(.{4})/g, '$1 ').trim();
    render(ctx, 'account/totp', { secret, uri: enrolment.uri, qrSvg: enrolment.qrSvg, errors }, status);
  }

  router.get('/dua-langkah', recentLogin, (ctx) => renderEnrolment(ctx));

  router.post('/dua-langkah', recentLogin, async (ctx) => {
    const form = parseForm(ctx, enrolForm);
    const t = translator(ctx.state.lang);
    // A code that is not six digits cannot be right: said before the password is tried.
    const code = totpCodeOf(form.code);
    if (!code) return renderEnrolment(ctx, [{ field: 'code', message: t('account.totp.code_malformed') }], 400);
    const citizen = await current(ctx);
    const problems = await passwordProblems(ctx, citizen, form.password);
    if (problems.length > 0) return renderEnrolment(ctx, problems, 400);
    const confirmed = await secondFactors.confirm(citizen, code, ctx.ip);
    if (!confirmed) return renderEnrolment(ctx, [{ field: 'code', message: t('account.totp.code_invalid') }], 400);
    added(ctx, confirmed.codes);
  });

  // Passkeys: the registration options go in the page (a fresh challenge each time it is shown).
  async function renderPasskey(ctx: Context, errors: object[] = [], status = 200) {
    const options = await passkeys.registrationOptions(await current(ctx));
    render(ctx, 'account/passkey', { options: options && JSON.stringify(options), errors }, status);
  }

  router.get('/kunci-sandi', recentLogin, (ctx) => renderPasskey(ctx));

  router.post('/kunci-sandi', recentLogin, async (ctx) => {
    const form = parseForm(ctx, passkeyForm);
    const citizen = await current(ctx);
    const problems = await passwordProblems(ctx, citizen, form.password);
    if (problems.length > 0) return renderPasskey(ctx, problems, 400);
    const registered = await passkeys.register(citizen, form.credential, form.name, ctx.ip);
    if (!registered) return renderPasskey(ctx, [{ field: 'passkey', message: translator(ctx.state.lang)('factors.passkey_page.failed') }], 400);
    added(ctx, registered.codes);
  });

  router.post('/kunci-sandi/nama', signedIn, async (ctx) => {
    const { id, name } = parseForm(ctx, renameForm);
    if (!name || !(await passkeys.rename(ctx.state.accountId, id, name))) throw new InputError('factor_unknown');
    seeOther(ctx, '/akun?faktor=1');
  });

  // Removing a factor: a confirmation page with the password.
  async function renderRemoval(ctx: Context, factor: string, errors: object[] = [], status = 200) {
    const name = factor === 'totp'
      ? translator(ctx.state.lang)('factors.totp_name')
      : (await passkeys.list(ctx.state.accountId)).find((p) => p.id === factor)?.name;
    if (!name) throw new InputError('factor_unknown');
    render(ctx, 'account/confirm-password', { page: 'factors.remove_page', name, action: '/akun/faktor/hapus', hidden: { factor }, warning: true, errors }, status);
  }

  router.get('/faktor/hapus', recentLogin, (ctx) => renderRemoval(ctx, String(ctx.query.faktor ?? '')));

  router.post('/faktor/hapus', recentLogin, async (ctx) => {
    const form = parseForm(ctx, removeForm);
    const citizen = await current(ctx);
    const problems = await passwordProblems(ctx, citizen, form.password);
    if (problems.length > 0) return renderRemoval(ctx, form.factor, problems, 400);
    const removed = form.factor === 'totp'
      ? await secondFactors.removeTotp(citizen, ctx.ip)
      : await passkeys.remove(citizen, form.factor, ctx.ip);
    if (!removed) throw new InputError('factor_unknown');
    seeOther(ctx, '/akun?faktor=1');
  });

  // New recovery codes in place of the old ones.
  const renderRenewal = (ctx: Context, errors: object[] = [], status = 200) =>
    render(ctx, 'account/confirm-password', { page: 'factors.renew_page', action: '/akun/kode-pemulihan', errors }, status);

  router.get('/kode-pemulihan', recentLogin, (ctx) => renderRenewal(ctx));

  router.post('/kode-pemulihan', recentLogin, async (ctx) => {
    const form = parseForm(ctx, renewForm);
    const citizen = await current(ctx);
    const problems = await passwordProblems(ctx, citizen, form.password);
    if (problems.length > 0) return renderRenewal(ctx, problems, 400);
    const codes = await secondFactors.renewRecoveryCodes(citizen, ctx.ip);
    if (!codes) throw new InputError('factor_unknown');
    render(ctx, 'account/recovery-codes', { codes });
  });

  return router;
}
