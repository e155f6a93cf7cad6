import type { Context } from 'koa';
import { z } from 'zod';
import type { Citizen, CitizenStore } from '../../identity/citizens.js';
import { isPhoneCodeMethod, type LoginAttempts, type PhoneCodeMethod, type SecondFactorMethod } from '../../identity/login-attempt.js';
import type { Passkeys } from '../../identity/passkeys.js';
import { secondFactorCodeOf, type SecondFactors } from '../../identity/second-factors.js';
import { InputError } from '../../errors.js';
import { translator } from '../../i18n.js';
import { parseForm } from '../forms.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { render } from '../render.js';
import { refusalMessage } from '../throttling.js';
import type { Interaction } from './context.js';
import type { FinishLogin, UpstreamLogin } from './finish-login.js';
import type { InteractionStep } from './step.js';

/**
 * The account whose first step was right, waiting for its second factor in this interaction, and
 * the amr of that first step: 'pwd', a code sent to the phone ('sms', 'whatsapp'), or a login at
 * an upstream ('fed', with what it proved).
 */
interface PendingSecondFactor {
  uid: string;
  citizenId: string;
  first: FirstStep;
  upstream?: UpstreamLogin;
}
type FirstStep = 'pwd' | PhoneCodeMethod | 'fed';
const isFirstStep = (v: PendingSecondFactor) =>
  v.first === 'pwd' || isPhoneCodeMethod(v.first) || (v.first === 'fed' && typeof v.upstream === 'object' && v.upstream !== null);
const pendingSecondFactor = jsonCookie('kid.mfa', 10 * 60 * 1000, (v): v is PendingSecondFactor =>
  hasFields(v, { uid: 'string', citizenId: 'string', first: 'string' }) && isFirstStep(v as PendingSecondFactor),
);

const codeForm = z.object({ code: z.string().trim().max(40) });
const passkeyForm = z.object({ credential: z.string().max(8000) });

/** The second step's page: a passkey (with a fresh challenge) when the account has one, and a code field. */
export function secondFactorPage(secondFactors: SecondFactors, passkeys: Passkeys) {
  async function show(ctx: Context, interaction: Interaction, citizen: Citizen, errors: object[] = [], status = 200): Promise<void> {
    const passkeyOptions = await passkeys.authenticationOptions(citizen.id, interaction.uid);
    render(ctx, 'interaction/second-factor', {
      action: interaction.action('otp'),
      passkeyAction: interaction.action('passkey'),
      passkeyOptions: passkeyOptions && JSON.stringify(passkeyOptions),
      totp: (await secondFactors.summary(citizen.id)).totp,
      abortAction: interaction.action('abort'),
      client: interaction.client,
      errors,
    }, status);
  }
  return {
    show,
    /**
     * After a right first step (the password, a code sent to the phone, or a login at an upstream:
     * `first`, its amr, and `upstream`, what that login proved): remembers the account for this
     * interaction and asks for its second factor.
     */
    start(ctx: Context, interaction: Interaction, citizen: Citizen, first: FirstStep = 'pwd', upstream?: UpstreamLogin): Promise<void> {
      pendingSecondFactor.set(ctx, { uid: interaction.uid, citizenId: citizen.id, first, ...(upstream && { upstream }) });
      return show(ctx, interaction, citizen);
    },
  };
}

export type SecondFactorPage = ReturnType<typeof secondFactorPage>;

/** The second step of a login for an account with a second factor: a code, a recovery code or a passkey. */
export function secondFactorStep({ citizens, secondFactors, passkeys, loginAttempts, page, finishLogin }: {
  citizens: CitizenStore;
  secondFactors: SecondFactors;
  passkeys: Passkeys;
  loginAttempts: LoginAttempts;
  page: SecondFactorPage;
  finishLogin: FinishLogin;
}): InteractionStep {
  return {
    actions(router, read) {
      /** The interaction and the account waiting in it for its second factor. */
      async function waiting(ctx: Context): Promise<{ interaction: Interaction; pending: PendingSecondFactor; citizen: Citizen }> {
        const interaction = await read(ctx, 'login');
        const pending = pendingSecondFactor.get(ctx);
        const citizen = pending?.uid === interaction.uid ? await citizens.findById(pending.citizenId) : undefined;
        if (!pending || !citizen) throw new InputError('second_factor_invalid');
        return { interaction, pending, citizen };
      }

      /** Tries what the browser sent (`check`) for the account waiting in this interaction. */
      async function secondStep(ctx: Context, check: (citizen: Citizen) => Promise<SecondFactorMethod | undefined>) {
        const { interaction, pending, citizen } = await waiting(ctx);
        const t = translator(ctx.state.lang);
        const attempt = await loginAttempts.secondFactor(citizen, () => check(citizen), interaction.origin);
        switch (attempt.outcome) {
          case 'refused':
            ctx.set('Retry-After', String(attempt.refusal.retryAfterSeconds));
            return page.show(ctx, interaction, citizen, [{ field: 'code', message: refusalMessage(t, attempt.refusal) }], 429);
          case 'failed':
            return page.show(ctx, interaction, citizen, [{ field: 'code', message: t('login.second_factor_invalid') }], 400);
          case 'passed':
            pendingSecondFactor.clear(ctx);
            return finishLogin(ctx, interaction, citizen, [pending.first, attempt.method], { upstream: pending.upstream });
        }
      }

      // A code from the TOTP app, or a recovery code, with or without spaces and dashes. One that
      // is neither cannot be right: it is sent back with what a code looks like, and is no guess
      // (not throttled, not counted towards the lock, not audited as a failed sign-in).
      router.post('/otp', async (ctx) => {
        const typed = secondFactorCodeOf(parseForm(ctx, codeForm).code);
        if (!typed) {
          const { interaction, citizen } = await waiting(ctx);
          const totp = (await secondFactors.summary(citizen.id)).totp;
          const message = translator(ctx.state.lang)(totp ? 'login.second_factor.code_malformed' : 'login.second_factor.recovery_malformed');
          return page.show(ctx, interaction, citizen, [{ field: 'code', message }], 400);
        }
        return secondStep(ctx, async (citizen) => {
          const ok = typed.kind === 'totp'
            ? await secondFactors.verifyTotp(citizen.id, typed.code)
            : await secondFactors.useRecoveryCode(citizen, typed.code, ctx.ip);
          return ok ? 'otp' : undefined;
        });
      });

      // A passkey's answer to the challenge on the second-step page.
      router.post('/passkey', (ctx) =>
        secondStep(ctx, (citizen) => passkeys.authenticate(citizen.id, String(ctx.params.uid), parseForm(ctx, passkeyForm).credential)),
      );
    },
  };
}
