import type { Context } from 'koa';
import { z } from 'zod';
import type { Registration } from '../../identity/registration.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import type { Channel } from '../../messaging/outbox.js';
import { translator } from '../../i18n.js';
import { parseForm, seeOther, typed } from '../forms.js';
import { render } from '../render.js';
import { codeNoticeQuery } from '../phone-code-forms.js';
import { rememberVerification } from '../register/verify-cookie.js';
import { refusalMessage } from '../throttling.js';
import type { Interaction } from './context.js';
import type { FinishLogin } from './finish-login.js';
import type { SecondFactorPage } from './second-factor.js';
import type { InteractionStep, LoginAlternative } from './step.js';

const loginForm = z.object({
  identifier: typed.transform((value) => value.trim()),
  password: typed,
});

/** The other ways to sign in that this interaction may use (the steps' `alternative`). */
export type LoginAlternatives = (interaction: Interaction) => Promise<LoginAlternative[]>;

async function showLogin(ctx: Context, interaction: Interaction, alternatives: LoginAlternatives, identifier = '', errors: object[] = [], status = 200): Promise<void> {
  const others = await alternatives(interaction);
  render(ctx, 'interaction/login', {
    action: interaction.action('login'),
    abortAction: interaction.action('abort'),
    client: interaction.client,
    identifier,
    errors,
    buttons: others.filter((o) => o.button),
    alternatives: others.filter((o) => !o.button),
    registerHref: `/daftar?lanjut=${encodeURIComponent(`/interaction/${interaction.uid}`)}`,
  }, status);
}

/** The login page: an identifier (NIK, email or verified phone number) and the password, and links to the other ways to sign in. */
export function loginStep({ loginAttempts, registration, secondFactorPage, finishLogin, channels, alternatives }: {
  loginAttempts: LoginAttempts;
  /** The ways a code reaches a phone here, the first the default. */
  channels: readonly Channel[];
  registration: Registration;
  secondFactorPage: SecondFactorPage;
  finishLogin: FinishLogin;
  alternatives: LoginAlternatives;
}): InteractionStep {
  return {
    page: { prompt: 'login', show: async (ctx, interaction) => showLogin(ctx, interaction, alternatives) },

    actions(router, read) {
      router.post('/login', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const t = translator(ctx.state.lang);
        const { identifier, password } = parseForm(ctx, loginForm);
        const missing = [
          ...(identifier ? [] : [{ field: 'identifier', message: t('login.required_identifier') }]),
          ...(password ? [] : [{ field: 'password', message: t('login.required_password') }]),
        ];
        if (missing.length > 0) return showLogin(ctx, interaction, alternatives, identifier, missing, 400);

        const attempt = await loginAttempts.password(identifier, password, interaction.origin);
        switch (attempt.outcome) {
          case 'refused':
            ctx.set('Retry-After', String(attempt.refusal.retryAfterSeconds));
            return showLogin(ctx, interaction, alternatives, identifier, [{ field: 'identifier', message: refusalMessage(t, attempt.refusal) }], 429);
          case 'failed':
            return showLogin(ctx, interaction, alternatives, identifier, [{ field: 'identifier', message: t('login.invalid_credentials') }], 400);
          case 'disabled':
            return showLogin(ctx, interaction, alternatives, identifier, [{ field: 'identifier', message: t('login.disabled_inactive') }], 403);
          case 'verify_contact': {
            // The password is right but no contact is proven: send a fresh code (to the phone when
            // the account has one, else by email) and continue here after.
            const { citizen } = attempt;
            const channel = channels[0]!;
            const phoneCode = await registration.sendPhoneCode(citizen.id, { channel, lang: ctx.state.lang, ip: ctx.ip });
            const tokenId = phoneCode ? undefined : await registration.resendVerification(citizen.id);
            rememberVerification(ctx, citizen, { tokenId, phoneCode, channel }, `/interaction/${interaction.uid}`, interaction.clientId);
            return seeOther(ctx, `/verifikasi?${phoneCode ? codeNoticeQuery(phoneCode) : 'dikirim=1'}`);
          }
          case 'second_factor':
            return secondFactorPage.start(ctx, interaction, attempt.citizen);
          case 'passed':
            return finishLogin(ctx, interaction, attempt.citizen, ['pwd']);
        }
      });
    },
  };
}
