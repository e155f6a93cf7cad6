import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { checkNewCitizen } from '../../identity/citizens.js';
import { PHONE_CODE_MINUTES, type CodeSent } from '../../identity/phone-codes.js';
import type { Registration } from '../../identity/registration.js';
import type { Channel } from '../../messaging/outbox.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { render } from '../render.js';
import { withinIpLimit } from '../throttling.js';
import type { Throttle } from '../../identity/throttle.js';
import { continuePath, pendingVerification, rememberVerification } from './verify-cookie.js';
import { clientOfSignIn, nextStepAfterVerifying } from './next-step.js';
import type { Db } from '../../db/db.js';
import { chosenChannel, codeNotice, codeNoticeQuery } from '../phone-code-forms.js';

const registrationForm = z.object({
  nik: typed,
  name: typed,
  birth_day: typed,
  birth_month: typed,
  birth_year: typed,
  email: typed,
  phone: typed,
  channel: field(10),
  password: typed,
  password_confirm: typed,
  privacy: field(8),
  lanjut: field(100),
});

const verifyForm = z.object({ token: field(200), code: typed });
const resendForm = z.object({ channel: field(10) });

/** YYYY-MM-DD from the three date inputs, or '' when they do not make one. */
function birthdateOf(day: string, month: string, year: string): string {
  const [d, m, y] = [day, month, year].map((part) => part.trim());
  if (!/^\d{1,2}$/.test(d!) || !/^\d{1,2}$/.test(m!) || !/^\d{4}$/.test(y!)) return '';
  return `${y}-${m!.padStart(2, '0')}-${d!.padStart(2, '0')}`;
}

/**
 * Registration (/daftar) and the verification of its email or phone (/verifikasi). `channels`
 * are the ways a code can reach a phone here, the first the default. Verified, the citizen goes
 * on to the sign-in or the service they came from, or to their account (next-step.ts).
 */
export function registerRoutes(
  registration: Registration, throttle: Throttle, channels: readonly Channel[], foreignPrefixes: readonly string[], db: Db,
): Router {
  const router = new Router();
  const channelOf = (value: string) => chosenChannel(value, channels);

  router.get('/daftar', (ctx) => {
    const lanjut = continuePath(ctx.query.lanjut);
    render(ctx, 'register/form', { values: { lanjut, channel: channels[0] }, channels, errors: [] });
  });

  router.post('/daftar', async (ctx) => {
    if (!(await withinIpLimit(ctx, throttle, 'register'))) return;
    const form = parseForm(ctx, registrationForm);
    const values = { ...form, password: '', password_confirm: '', lanjut: continuePath(form.lanjut), channel: channelOf(form.channel) };
    const input = {
      nik: form.nik,
      name: form.name,
      birthdate: birthdateOf(form.birth_day, form.birth_month, form.birth_year),
      email: form.email,
      phone: form.phone,
      password: form.password,
    };
    const checked = checkNewCitizen(input, foreignPrefixes);
    const problems = checked.ok ? [] : [...checked.problems];
    if (form.password !== form.password_confirm && !problems.some((p) => p.field === 'password')) {
      problems.push(new InputError('password_mismatch', 'password_confirm'));
    }
    if (form.privacy !== 'ya') problems.push(new InputError('privacy_required', 'privacy'));
    if (problems.length > 0) return render(ctx, 'register/form', { values, channels, errors: fieldErrors(ctx, problems) }, 400);

    let sent: CodeSent | undefined;
    try {
      const { citizen, tokenId, phoneCode } = await registration.register(input, { channel: values.channel, lang: ctx.state.lang, ip: ctx.ip });
      rememberVerification(ctx, citizen, { tokenId, phoneCode, channel: values.channel }, values.lanjut, await clientOfSignIn(db, values.lanjut));
      sent = phoneCode;
    } catch (error) {
      if (!(error instanceof InputError) || error.code !== 'already_registered') throw error;
      return render(ctx, 'register/form', { values, channels, errors: fieldErrors(ctx, [error]) }, 409);
    }
    seeOther(ctx, `/verifikasi?${sent ? codeNoticeQuery(sent) : 'dikirim=1'}`);
  });

  /** The code form; `waitSeconds` says that a new code may be asked for only after that long. */
  function renderCode(ctx: Context, errors: object[] = [], status = 200, waitSeconds = 0) {
    const pending = pendingVerification.get(ctx);
    if (!pending) return render(ctx, 'register/verify', { mode: 'none', errors }, status);
    render(ctx, 'register/verify', {
      mode: 'code', emailHint: pending.maskedEmail, phoneHint: pending.maskedPhone, channel: pending.channel, channels, codeMinutes: PHONE_CODE_MINUTES,
      ...codeNotice(ctx, waitSeconds), errors,
    }, status);
  }

  router.get('/verifikasi', (ctx) => {
    const token = ctx.query.token;
    if (typeof token === 'string' && token.length > 0 && token.length <= 200) {
      // A button, not an automatic use: mail scanners that open links must not spend the token.
      return render(ctx, 'register/verify', { mode: 'link', token, errors: [] });
    }
    renderCode(ctx);
  });

  router.post('/verifikasi', async (ctx) => {
    const form = parseForm(ctx, verifyForm);
    const pending = pendingVerification.get(ctx);
    let verified: string | undefined;
    let byPhone = false;
    if (form.token) {
      verified = await registration.verifyByToken(form.token);
      if (!verified) return renderCode(ctx, fieldErrors(ctx, [new InputError('verify_link_invalid', 'code')]), 400);
    } else {
      if (!(await withinIpLimit(ctx, throttle, 'code'))) return;
      try {
        // The phone's code, or the email's when both were sent one.
        verified = pending?.maskedPhone ? await registration.verifyPhone(pending.citizenId, pending.phoneCodeId, form.code, ctx.ip) : undefined;
        byPhone = verified !== undefined;
        if (!verified && pending?.tokenId) verified = await registration.verifyByCode(pending.tokenId, form.code.trim());
      } catch (error) {
        if (!(error instanceof InputError) || error.code !== 'phone_taken') throw error;
        return renderCode(ctx, fieldErrors(ctx, [error]), 409);
      }
      if (!verified) return renderCode(ctx, fieldErrors(ctx, [new InputError('verify_code_invalid', 'code')]), 400);
    }
    // The sign-in this browser registered in, when the account verified is the one it registered.
    const from = pending && pending.citizenId === verified ? { continueTo: pending.continueTo, clientId: pending.clientId ?? '' } : { continueTo: '', clientId: '' };
    pendingVerification.clear(ctx);
    render(ctx, 'register/verified', { next: await nextStepAfterVerifying(db, from), byPhone });
  });

  router.post('/verifikasi/kirim-ulang', async (ctx) => {
    if (!(await withinIpLimit(ctx, throttle, 'register'))) return;
    const pending = pendingVerification.get(ctx);
    if (pending?.maskedPhone) {
      // Another code to the phone, by the channel the citizen picks now (the other one, when the first did not arrive).
      const channel = channelOf(parseForm(ctx, resendForm).channel);
      const sent = await registration.sendPhoneCode(pending.citizenId, { channel, lang: ctx.state.lang, ip: ctx.ip });
      if (!sent) {
        pendingVerification.clear(ctx);
        return seeOther(ctx, '/verifikasi');
      }
      const phoneCodeId = (sent.outcome !== 'refused' && sent.codeId) || pending.phoneCodeId;
      pendingVerification.set(ctx, { ...pending, phoneCodeId, channel: sent.outcome === 'sent' ? channel : pending.channel });
      if (sent.outcome === 'sent') return seeOther(ctx, '/verifikasi?dikirim=1');
      ctx.set('Retry-After', String(sent.retryAfterSeconds));
      return renderCode(ctx, [], 429, sent.retryAfterSeconds);
    }
    const resent = pending ? await registration.sendVerificationAgain(pending.citizenId) : undefined;
    if (!pending || !resent) {
      pendingVerification.clear(ctx);
      return seeOther(ctx, '/verifikasi');
    }
    pendingVerification.set(ctx, { ...pending, tokenId: resent.tokenId });
    if (resent.waitSeconds === 0) return seeOther(ctx, '/verifikasi?dikirim=1');
    // Too soon for another email. This browser registered or signed in with the password, so
    // it may be told so (a password reset, open to anyone, says nothing of the kind).
    ctx.set('Retry-After', String(resent.waitSeconds));
    renderCode(ctx, [], 429, resent.waitSeconds);
  });

  return router;
}
