import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Account } from '../../identity/account.js';
import type { Citizen, CitizenStore } from '../../identity/citizens.js';
import type { CodeSent } from '../../identity/phone-codes.js';
import { checkNewPhone, type Profile } from '../../identity/profile.js';
import type { Throttle } from '../../identity/throttle.js';
import type { Channel } from '../../messaging/outbox.js';
import { InputError } from '../../errors.js';
import { translator } from '../../i18n.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { render } from '../render.js';
import { withinIpLimit } from '../throttling.js';
import { chosenChannel, codeFormData } from '../phone-code-forms.js';

const phoneForm = z.object({ phone: typed, channel: field(10), password: typed });
const codeForm = z.object({ code: typed });
const resendForm = z.object({ channel: field(10) });
const removeForm = z.object({ password: typed });

/** The phone change this browser started: the account, the number (E.164), the code its form checks and how it was sent. */
interface PendingPhone {
  citizenId: string;
  phone: string;
  codeId: string;
  channel: string;
}

/** Half an hour: a code lives minutes, and another may be asked for from the code page. */
const pendingPhone = jsonCookie('kid.phone', 30 * 60 * 1000, (v): v is PendingPhone =>
  hasFields(v, { citizenId: 'string', phone: 'string', codeId: 'string', channel: 'string' }),
);

/**
 * The phone number on the account page: /akun/telepon adds or changes it (after a recent login
 * and with the password) by a code sent to the new number (/akun/telepon/verifikasi), or removes
 * it while a verified email remains (/akun/telepon/hapus). `channels` are the ways a code can
 * reach a phone here, the first the default.
 */
export function phoneRoutes(
  { profile, citizens, account, throttle, config }: { profile: Profile; citizens: CitizenStore; account: Account; throttle: Throttle; config: { phone: { foreignPrefixes: readonly string[] } } },
  { signedIn, recentLogin }: { signedIn: Middleware; recentLogin: Middleware },
  channels: readonly Channel[],
): Router {
  const router = new Router({ prefix: '/akun/telepon' });
  const channelOf = (value: string) => chosenChannel(value, channels);
  const citizenOf = async (ctx: Context): Promise<Citizen> => {
    const citizen = await citizens.findById(ctx.state.accountId);
    if (!citizen) throw new InputError('account_unknown');
    return citizen;
  };
  /** The pending change of the signed-in account, if this browser started one. */
  const pendingOf = (ctx: Context) => {
    const pending = pendingPhone.get(ctx);
    return pending?.citizenId === ctx.state.accountId ? pending : undefined;
  };

  async function renderForm(ctx: Context, values: Record<string, string> = {}, errors: object[] = [], status = 200) {
    const citizen = await citizenOf(ctx);
    const canRemove = citizen.phone !== null && citizen.email !== null && citizen.email_verified;
    render(ctx, 'account/phone', { citizen, canRemove, channels, values: { channel: channels[0], ...values }, errors }, status);
  }

  /** A refusal to send a code now, beside the number's field: try again in so many minutes. */
  const refusedErrors = (ctx: Context, seconds: number) => [
    { field: 'phone', message: translator(ctx.state.lang)('profile.phone_change.refused', { minutes: Math.max(1, Math.ceil(seconds / 60)) }) },
  ];

  router.get('/', recentLogin, (ctx) => renderForm(ctx));

  router.post('/', recentLogin, async (ctx) => {
    const form = parseForm(ctx, phoneForm);
    const channel = channelOf(form.channel);
    const values = { phone: form.phone, channel };
    const citizen = await citizenOf(ctx);
    let sent: CodeSent;
    let phone: string;
    try {
      phone = checkNewPhone(citizen, form.phone, config.phone.foreignPrefixes);
      // Only the person who knows the password may move the account to another number.
      await account.checkCurrentPassword(citizen, form.password, 'password');
      sent = await profile.requestPhoneChange(citizen, phone, { channel, lang: ctx.state.lang, ip: ctx.ip });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return renderForm(ctx, values, fieldErrors(ctx, [error]), 400);
    }
    if (sent.outcome === 'sent') {
      pendingPhone.set(ctx, { citizenId: citizen.id, phone, codeId: sent.codeId, channel });
      return seeOther(ctx, '/akun/telepon/verifikasi?dikirim=1');
    }
    ctx.set('Retry-After', String(sent.retryAfterSeconds));
    // Too soon after a code to this number that is still good: its form, with the wait.
    if (sent.outcome === 'wait' && sent.codeId) {
      const pending = { citizenId: citizen.id, phone, codeId: sent.codeId, channel };
      pendingPhone.set(ctx, pending);
      return renderCode(ctx, [], 429, sent.retryAfterSeconds, pending);
    }
    return renderForm(ctx, values, refusedErrors(ctx, sent.retryAfterSeconds), 429);
  });

  /** The code form of the pending change (`pending`: one just remembered, which the request's cookie does not hold yet). */
  function renderCode(ctx: Context, errors: object[] = [], status = 200, waitSeconds = 0, pending = pendingOf(ctx)) {
    if (!pending) return render(ctx, 'account/phone-code', { errors }, status);
    render(ctx, 'account/phone-code', { ...codeFormData(ctx, pending, channels, waitSeconds), errors }, status);
  }

  router.get('/verifikasi', signedIn, (ctx) => renderCode(ctx));

  router.post('/verifikasi', signedIn, async (ctx) => {
    if (!(await withinIpLimit(ctx, throttle, 'code'))) return;
    const { code } = parseForm(ctx, codeForm);
    const pending = pendingOf(ctx);
    try {
      if (pending && (await profile.confirmPhoneChange(ctx.state.accountId, pending.codeId, code, { ip: ctx.ip, lang: ctx.state.lang }))) {
        pendingPhone.clear(ctx);
        return seeOther(ctx, '/akun/profil?telepon=1');
      }
      throw new InputError('phone_code_invalid', 'code');
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return renderCode(ctx, fieldErrors(ctx, [error]), error.code === 'phone_taken' ? 409 : 400);
    }
  });

  router.post('/kirim-ulang', signedIn, async (ctx) => {
    const pending = pendingOf(ctx);
    // Another code by the channel the citizen picks now (the other one, when the first did not arrive).
    const channel = channelOf(parseForm(ctx, resendForm).channel);
    if (!pending) return seeOther(ctx, '/akun/telepon');
    const sent = await profile.requestPhoneChange(await citizenOf(ctx), pending.phone, { channel, lang: ctx.state.lang, ip: ctx.ip });
    if (sent.outcome === 'sent') {
      pendingPhone.set(ctx, { ...pending, codeId: sent.codeId, channel });
      return seeOther(ctx, '/akun/telepon/verifikasi?dikirim=1');
    }
    // Held back by a limit: the code sent before stays good.
    const kept = sent.outcome === 'wait' && sent.codeId ? { ...pending, codeId: sent.codeId } : pending;
    pendingPhone.set(ctx, kept);
    ctx.set('Retry-After', String(sent.retryAfterSeconds));
    return renderCode(ctx, [], 429, sent.retryAfterSeconds, kept);
  });

  router.post('/hapus', recentLogin, async (ctx) => {
    const { password } = parseForm(ctx, removeForm);
    try {
      await account.checkCurrentPassword(await citizenOf(ctx), password, 'remove_password');
      await profile.removePhone(ctx.state.accountId, { ip: ctx.ip, lang: ctx.state.lang });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return renderForm(ctx, {}, fieldErrors(ctx, [error]), 400);
    }
    seeOther(ctx, '/akun/profil?telepon_dihapus=1');
  });

  return router;
}
