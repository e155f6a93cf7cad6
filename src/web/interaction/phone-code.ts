import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { translator } from '../../i18n.js';
import { passwordlessMeets } from '../../identity/assurance.js';
import type { CitizenStore } from '../../identity/citizens.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import { normalizePhone } from '../../identity/phone.js';
import type { CodeSent, PhoneCodes } from '../../identity/phone-codes.js';
import { isChannel, type Channel } from '../../messaging/outbox.js';
import { field, fieldErrors, parseForm, seeOther, typed } from '../forms.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { render } from '../render.js';
import { refusalMessage } from '../throttling.js';
import type { Interaction } from './context.js';
import type { FinishLogin } from './finish-login.js';
import type { SecondFactorPage } from './second-factor.js';
import type { InteractionStep } from './step.js';
import { chosenChannel, codeFormData, codeNoticeQuery } from '../phone-code-forms.js';

/**
 * The code this browser asked for in this interaction: the number typed (E.164) and the code the
 * next form checks ('' while a limit held one back). Kept in a signed cookie bound to the
 * interaction, never in the URL; the code's lifetime and tries are kept on the server.
 */
interface PendingCode {
  uid: string;
  phone: string;
  codeId: string;
  channel: Channel;
}
const pendingCode = jsonCookie('kid.phone-code', 15 * 60 * 1000, (v): v is PendingCode =>
  hasFields(v, { uid: 'string', phone: 'string', codeId: 'string', channel: 'string' }) && isChannel((v as PendingCode).channel),
);

const numberForm = z.object({ phone: typed, channel: field(10) });
const codeForm = z.object({ code: typed });
const resendForm = z.object({ channel: field(10) });

/**
 * Signing in with a code sent by WhatsApp or SMS to the account's verified phone number, without
 * the password: for services that ask for the basic level only (the login is basic, whatever the
 * account reaches; amr 'sms' or 'whatsapp'). The answers are the same whether or not the number
 * belongs to an account: a code for an unknown number is recorded but sent to nobody.
 *
 *   GET  /interaction/:uid/kode              the number and the channel
 *   POST /interaction/:uid/kode              sends the code, on to the code form
 *   GET  /interaction/:uid/kode/masukkan     the code form
 *   POST /interaction/:uid/kode/masukkan     checks the code, and signs in
 *   POST /interaction/:uid/kode/kirim-ulang  another code (after PHONE_CODE_RESEND_SECONDS), by the channel chosen now
 *
 * With PHONE_CODE_SIGN_IN=false there is no link and every route answers 404.
 */
export function phoneCodeStep({ citizens, phoneCodes, loginAttempts, secondFactorPage, finishLogin, channels, codeSignIn, foreignPrefixes }: {
  citizens: CitizenStore;
  phoneCodes: PhoneCodes;
  loginAttempts: LoginAttempts;
  secondFactorPage: SecondFactorPage;
  finishLogin: FinishLogin;
  /** The ways a code reaches a phone here, the first the default. */
  channels: readonly Channel[];
  /** PHONE_CODE_SIGN_IN. */
  codeSignIn: boolean;
  foreignPrefixes: readonly string[];
}): InteractionStep {
  const channelOf = (value: string) => chosenChannel(value, channels);
  /** Whether this interaction may sign in with a code: the setting is on and the service asks for the basic level only. */
  const offered = (interaction: Interaction) => codeSignIn && channels.length > 0 && passwordlessMeets(interaction.details.params.acr_values, channels[0]!);

  function showNumberForm(ctx: Context, interaction: Interaction, values: { phone: string; channel: Channel }, errors: object[] = [], status = 200): void {
    render(ctx, 'interaction/phone-code', {
      action: interaction.action('kode'),
      passwordHref: `/interaction/${interaction.uid}`,
      abortAction: interaction.action('abort'),
      client: interaction.client,
      channels,
      values,
      errors,
    }, status);
  }

  function showCodeForm(ctx: Context, interaction: Interaction, pending: PendingCode, { errors = [] as object[], status = 200, waitSeconds = 0 } = {}): void {
    render(ctx, 'interaction/phone-code-check', {
      action: interaction.action('kode/masukkan'),
      resendAction: interaction.action('kode/kirim-ulang'),
      otherNumberHref: interaction.action('kode'),
      passwordHref: `/interaction/${interaction.uid}`,
      abortAction: interaction.action('abort'),
      client: interaction.client,
      ...codeFormData(ctx, pending, channels, waitSeconds),
      errors,
    }, status);
  }

  /** A code for signing in to the active (or disabled for inactivity) account whose verified number this is, or to nobody (then it is only recorded). */
  async function sendCode(ctx: Context, phone: string, channel: Channel): Promise<CodeSent> {
    const holder = await citizens.findByVerifiedPhone(phone);
    // An account disabled for inactivity gets its code too: a right one tells its holder what to do.
    const citizenId = holder && (holder.status === 'active' || (await citizens.disabledForInactivity(holder.id))) ? holder.id : undefined;
    return phoneCodes.send({ phone, citizenId, purpose: 'sign_in', channel, lang: ctx.state.lang, ip: ctx.ip });
  }

  /** Where the browser goes after a code was asked for: the code form, saying it was sent or how long to wait. */
  const codeFormAfter = (interaction: Interaction, sent: Exclude<CodeSent, { outcome: 'refused' }>) =>
    `${interaction.action('kode/masukkan')}?${codeNoticeQuery(sent)}`;

  return {
    alternatives: async (interaction) => (offered(interaction) ? [{ href: interaction.action('kode'), label: 'login.phone_code.link' }] : []),

    actions(router, read) {
      /**
       * The interaction, at the login prompt, when it may sign in with a code. Without the setting
       * the routes do not exist (404); a service that asks for more than the basic level gets the
       * standard error, unmet_authentication_requirements, as for any login that cannot reach it.
       */
      async function readOffered(ctx: Context): Promise<Interaction | undefined> {
        if (!codeSignIn) ctx.throw(404);
        const interaction = await read(ctx, 'login');
        if (offered(interaction)) return interaction;
        pendingCode.clear(ctx);
        const to = await interaction.finish({
          error: 'unmet_authentication_requirements',
          error_description: 'a sign-in with a code sent to the phone reaches urn:kediri:acr:basic only',
        });
        seeOther(ctx, to);
        return undefined;
      }

      /** The code this browser asked for in this interaction, if any. */
      const pendingOf = (ctx: Context, interaction: Interaction) => {
        const pending = pendingCode.get(ctx);
        return pending?.uid === interaction.uid ? pending : undefined;
      };

      router.get('/kode', async (ctx) => {
        const interaction = await readOffered(ctx);
        if (!interaction) return;
        const pending = pendingOf(ctx, interaction);
        showNumberForm(ctx, interaction, { phone: '', channel: pending?.channel ?? channels[0]! });
      });

      router.post('/kode', async (ctx) => {
        const interaction = await readOffered(ctx);
        if (!interaction) return;
        const t = translator(ctx.state.lang);
        const form = parseForm(ctx, numberForm);
        const values = { phone: form.phone, channel: channelOf(form.channel) };
        if (!form.phone.trim()) return showNumberForm(ctx, interaction, values, [{ field: 'phone', message: t('login.phone_code.required_phone') }], 400);
        const phone = normalizePhone(form.phone, foreignPrefixes);
        if (!phone) return showNumberForm(ctx, interaction, values, fieldErrors(ctx, [new InputError('phone_invalid', 'phone')]), 400);

        const sent = await sendCode(ctx, phone, values.channel);
        if (sent.outcome === 'refused') {
          // A limit of the number, the address or the instance: the same words for every number.
          ctx.set('Retry-After', String(sent.retryAfterSeconds));
          const message = t('login.phone_code.refused', { minutes: Math.ceil(sent.retryAfterSeconds / 60) });
          return showNumberForm(ctx, interaction, values, [{ field: 'phone', message }], 429);
        }
        pendingCode.set(ctx, { uid: interaction.uid, phone, codeId: sent.codeId ?? '', channel: values.channel });
        seeOther(ctx, codeFormAfter(interaction, sent));
      });

      router.get('/kode/masukkan', async (ctx) => {
        const interaction = await readOffered(ctx);
        if (!interaction) return;
        const pending = pendingOf(ctx, interaction);
        if (!pending) return seeOther(ctx, interaction.action('kode'));
        showCodeForm(ctx, interaction, pending);
      });

      router.post('/kode/masukkan', async (ctx) => {
        const interaction = await readOffered(ctx);
        if (!interaction) return;
        const pending = pendingOf(ctx, interaction);
        if (!pending) throw new InputError('phone_code_missing');
        const t = translator(ctx.state.lang);
        const { code } = parseForm(ctx, codeForm);
        const attempt = await loginAttempts.phoneCode('sign_in', { phone: pending.phone, codeId: pending.codeId, code }, interaction.origin);
        switch (attempt.outcome) {
          case 'refused':
            ctx.set('Retry-After', String(attempt.refusal.retryAfterSeconds));
            return showCodeForm(ctx, interaction, pending, { errors: [{ field: 'code', message: refusalMessage(t, attempt.refusal) }], status: 429 });
          case 'failed':
            return showCodeForm(ctx, interaction, pending, { errors: [{ field: 'code', message: t('login.phone_code.invalid') }], status: 400 });
          case 'disabled':
            return showCodeForm(ctx, interaction, pending, { errors: [{ field: 'code', message: t('login.disabled_inactive') }], status: 403 });
          case 'second_factor':
            pendingCode.clear(ctx);
            return secondFactorPage.start(ctx, interaction, attempt.citizen, attempt.method);
          case 'passed':
            pendingCode.clear(ctx);
            return finishLogin(ctx, interaction, attempt.citizen, [attempt.method]);
        }
      });

      router.post('/kode/kirim-ulang', async (ctx) => {
        const interaction = await readOffered(ctx);
        if (!interaction) return;
        const pending = pendingOf(ctx, interaction);
        if (!pending) return seeOther(ctx, interaction.action('kode'));
        // Another code to the same number, by the channel the citizen picks now (the other one, when the first did not arrive).
        const channel = channelOf(parseForm(ctx, resendForm).channel);
        const sent = await sendCode(ctx, pending.phone, channel);
        if (sent.outcome === 'refused') {
          ctx.set('Retry-After', String(sent.retryAfterSeconds));
          return showCodeForm(ctx, interaction, pending, { status: 429, waitSeconds: sent.retryAfterSeconds });
        }
        pendingCode.set(ctx, {
          ...pending,
          codeId: sent.codeId ?? pending.codeId,
          channel: sent.outcome === 'sent' ? channel : pending.channel,
        });
        seeOther(ctx, codeFormAfter(interaction, sent));
      });
    },
  };
}
