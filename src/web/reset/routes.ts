import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { translator } from '../../i18n.js';
import type { PasswordReset } from '../../identity/password-reset.js';
import { looksLikePhone, normalizePhone } from '../../identity/phone.js';
import type { CodeSent } from '../../identity/phone-codes.js';
import type { Throttle } from '../../identity/throttle.js';
import { isChannel, type Channel } from '../../messaging/outbox.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { render } from '../render.js';
import { refusalMessage, withinIpLimit } from '../throttling.js';
import { chosenChannel, codeFormData, codeNoticeQuery } from '../phone-code-forms.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** One field for the email or the phone number, and how a code is to reach the phone. */
const requestForm = z.object({ contact: typed, channel: field(10) });
const codeForm = z.object({ code: typed });
const resendForm = z.object({ channel: field(10) });
/** `token`: the emailed link's token, or the sealed proof a right phone code gave (never in a URL). */
const newPasswordForm = z.object({ token: field(400), password: typed, password_confirm: typed });

/**
 * The reset code this browser asked for: the number typed (E.164) and the code the form checks
 * ('' while a limit held one back). A signed cookie; the code's lifetime and tries are kept on the server.
 */
interface PendingResetCode {
  phone: string;
  codeId: string;
  channel: Channel;
}
const pendingResetCode = jsonCookie('kid.reset-code', 15 * 60 * 1000, (v): v is PendingResetCode =>
  hasFields(v, { phone: 'string', codeId: 'string', channel: 'string' }) && isChannel((v as PendingResetCode).channel),
);

/**
 * Password reset (/lupa-sandi), by email or by phone. An email gets a link; a phone number gets a
 * code by WhatsApp or SMS (`channels`, the first the default), whose right entry opens the
 * new-password form. The answers are the same whether or not the email or the number has an account.
 */
export function resetRoutes(reset: PasswordReset, throttle: Throttle, channels: readonly Channel[], foreignPrefixes: readonly string[]): Router {
  const router = new Router({ prefix: '/lupa-sandi' });
  const channelOf = (value: string) => chosenChannel(value, channels);

  function showRequest(ctx: Context, values: { contact: string; channel: Channel }, errors: object[] = [], status = 200) {
    render(ctx, 'reset/request', { values, channels, errors }, status);
  }

  function showCode(ctx: Context, pending: PendingResetCode, { errors = [] as object[], status = 200, waitSeconds = 0 } = {}) {
    render(ctx, 'reset/code', { ...codeFormData(ctx, pending, channels, waitSeconds), errors }, status);
  }

  const codeFormAfter = (sent: Exclude<CodeSent, { outcome: 'refused' }>) =>
    `/lupa-sandi/kode?${codeNoticeQuery(sent)}`;

  router.get('/', (ctx) => showRequest(ctx, { contact: '', channel: channels[0]! }));

  router.post('/', async (ctx) => {
    const form = parseForm(ctx, requestForm);
    if (!(await withinIpLimit(ctx, throttle, 'reset'))) return;
    const t = translator(ctx.state.lang);
    const contact = form.contact.trim();
    const values = { contact: form.contact, channel: channelOf(form.channel) };
    if (!contact) return showRequest(ctx, values, [{ field: 'contact', message: t('reset.request.contact.required') }], 400);

    if (!contact.includes('@') && looksLikePhone(contact)) {
      const phone = normalizePhone(contact, foreignPrefixes);
      if (!phone) return showRequest(ctx, values, fieldErrors(ctx, [new InputError('phone_invalid', 'contact')]), 400);
      const sent = await reset.requestByPhone(phone, { channel: values.channel, lang: ctx.state.lang, ip: ctx.ip });
      if (sent.outcome === 'refused') {
        // A limit of the number, the address or the instance: the same words for every number.
        ctx.set('Retry-After', String(sent.retryAfterSeconds));
        const message = t('reset.code.refused', { minutes: Math.ceil(sent.retryAfterSeconds / 60) });
        return showRequest(ctx, values, [{ field: 'contact', message }], 429);
      }
      pendingResetCode.set(ctx, { phone, codeId: sent.codeId ?? '', channel: values.channel });
      return seeOther(ctx, codeFormAfter(sent));
    }

    if (contact.length > 254 || !EMAIL.test(contact)) {
      const code = contact.includes('@') ? 'email_invalid' : 'contact_invalid';
      return showRequest(ctx, values, [{ field: 'contact', message: t(`reset.request.contact.${code}`) }], 400);
    }
    // The same page whether or not the address has an account, and whether or not a link went out.
    await reset.request(contact, ctx.ip);
    render(ctx, 'reset/sent');
  });

  router.get('/kode', (ctx) => {
    const pending = pendingResetCode.get(ctx);
    if (!pending) return seeOther(ctx, '/lupa-sandi');
    showCode(ctx, pending);
  });

  router.post('/kode', async (ctx) => {
    const pending = pendingResetCode.get(ctx);
    if (!pending) throw new InputError('phone_code_missing');
    const t = translator(ctx.state.lang);
    const { code } = parseForm(ctx, codeForm);
    const checked = await reset.checkPhoneCode({ phone: pending.phone, codeId: pending.codeId, code }, ctx.ip);
    switch (checked.outcome) {
      case 'refused':
        ctx.set('Retry-After', String(checked.refusal.retryAfterSeconds));
        return showCode(ctx, pending, { errors: [{ field: 'code', message: refusalMessage(t, checked.refusal) }], status: 429 });
      case 'failed':
        return showCode(ctx, pending, { errors: [{ field: 'code', message: t('reset.code.invalid') }], status: 400 });
      case 'passed':
        pendingResetCode.clear(ctx);
        return render(ctx, 'reset/form', { token: checked.proof, username: checked.username, errors: [] });
    }
  });

  router.post('/kode/kirim-ulang', async (ctx) => {
    const pending = pendingResetCode.get(ctx);
    if (!pending) return seeOther(ctx, '/lupa-sandi');
    if (!(await withinIpLimit(ctx, throttle, 'reset'))) return;
    // Another code to the same number, by the channel the citizen picks now.
    const channel = channelOf(parseForm(ctx, resendForm).channel);
    const sent = await reset.requestByPhone(pending.phone, { channel, lang: ctx.state.lang, ip: ctx.ip });
    if (sent.outcome === 'refused') {
      ctx.set('Retry-After', String(sent.retryAfterSeconds));
      return showCode(ctx, pending, { status: 429, waitSeconds: sent.retryAfterSeconds });
    }
    pendingResetCode.set(ctx, { ...pending, codeId: sent.codeId ?? pending.codeId, channel: sent.outcome === 'sent' ? channel : pending.channel });
    seeOther(ctx, codeFormAfter(sent));
  });

  router.get('/atur', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token.slice(0, 200) : '';
    const username = token ? await reset.accountName(token) : undefined;
    if (username === undefined) return render(ctx, 'reset/invalid', {}, 400);
    render(ctx, 'reset/form', { token, username, errors: [] });
  });

  router.post('/atur', async (ctx) => {
    const form = parseForm(ctx, newPasswordForm);
    // A dead link is said first: fixing the passwords would not help.
    const username = form.token ? await reset.accountName(form.token) : undefined;
    if (username === undefined) return render(ctx, 'reset/invalid', {}, 400);
    if (form.password !== form.password_confirm) {
      const errors = fieldErrors(ctx, [new InputError('password_mismatch', 'password_confirm')]);
      return render(ctx, 'reset/form', { token: form.token, username, errors }, 400);
    }
    try {
      await reset.complete(form.token, form.password, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      if (error.code === 'reset_token_invalid') return render(ctx, 'reset/invalid', {}, 400);
      return render(ctx, 'reset/form', { token: form.token, username, errors: fieldErrors(ctx, [error]) }, 400);
    }
    render(ctx, 'reset/done');
  });

  return router;
}
