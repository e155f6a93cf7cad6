import type { Context } from 'koa';
import { z } from 'zod';
import type { CitizenStore, Citizen } from '../../identity/citizens.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import { InputError } from '../../errors.js';
import { parseForm, seeOther } from '../forms.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { render } from '../render.js';
import type { Interaction } from './context.js';
import type { Amr, CheckProgress, FinishLogin } from './finish-login.js';
import type { InteractionStep } from './step.js';

/** Online population checks one interaction may make (each is a request to the population service). */
const MAX_ONLINE_CHECKS = 3;
const KNOWN_AMR = /^(pwd|sms|whatsapp|otp|hwk|swk)( (pwd|sms|whatsapp|otp|hwk|swk))*$/;

/**
 * The account that signed in but does not reach the requested acr, for the online check that the
 * assurance page offers: bound to the interaction, with the checks made so far and the methods
 * already used in this login (space-separated amr values).
 */
interface PendingCheck {
  uid: string;
  citizenId: string;
  checks: number;
  amr: string;
}
const pendingCheck = jsonCookie('kid.assurance', 15 * 60 * 1000, (v): v is PendingCheck =>
  hasFields(v, { uid: 'string', citizenId: 'string', checks: 'number', amr: 'string' }) && KNOWN_AMR.test((v as PendingCheck).amr),
);

const birthPlaceForm = z.object({ birth_place: z.string().trim().max(100) });

/**
 * The page "this service needs a verified identity" (or a second factor): how the account can
 * reach the level, and, when a population service is configured, the online check.
 */
export function assurancePage(onlineCheckAvailable: boolean) {
  return {
    async show(ctx: Context, interaction: Interaction, citizen: Citizen, amr: Amr, required: 'verified' | 'verified-mfa', { checks, result }: CheckProgress): Promise<void> {
      // The page may offer the online population check: it needs to know whose account this is.
      // (Not after a login without the password: it stays basic whatever the check finds.)
      const online = required === 'verified' && onlineCheckAvailable && checks < MAX_ONLINE_CHECKS && amr.includes('pwd');
      if (online) pendingCheck.set(ctx, { uid: interaction.uid, citizenId: citizen.id, checks, amr: amr.join(' ') });
      render(ctx, 'interaction/assurance', {
        client: interaction.client,
        required,
        abortAction: interaction.action('unmet'),
        onlineAction: online ? interaction.action('verifikasi-data') : undefined,
        result,
      }, 403);
    },
    forget(ctx: Context): void {
      pendingCheck.clear(ctx);
    },
  };
}

export type AssurancePage = ReturnType<typeof assurancePage>;

/** The assurance page's actions: the online population check, and "back to the service". */
export function assuranceStep({ citizens, loginAttempts, onlineCheckAvailable, finishLogin }: {
  citizens: CitizenStore;
  loginAttempts: LoginAttempts;
  onlineCheckAvailable: boolean;
  finishLogin: FinishLogin;
}): InteractionStep {
  return {
    actions(router, read) {
      // The online population check, for the account that just signed in. The count in the cookie
      // shapes the page; the limit itself is kept on the server (see login-attempt.ts).
      router.post('/verifikasi-data', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const pending = pendingCheck.get(ctx);
        if (!onlineCheckAvailable || pending?.uid !== interaction.uid) throw new InputError('assurance_check_invalid');
        const { birth_place: birthPlace } = parseForm(ctx, birthPlaceForm);
        const result = birthPlace ? await loginAttempts.populationCheck(pending.citizenId, birthPlace, ctx.ip) : 'birth_place_required';
        const citizen = await citizens.findById(pending.citizenId);
        if (!citizen) throw new InputError('assurance_check_invalid');
        await finishLogin(ctx, interaction, citizen, pending.amr.split(' '), { progress: { checks: birthPlace ? pending.checks + 1 : pending.checks, result } });
      });

      // "Back to the service" from the page that explains how to reach the requested assurance.
      router.post('/unmet', async (ctx) => {
        const interaction = await read(ctx, 'login');
        const to = await interaction.finish({
          error: 'unmet_authentication_requirements',
          error_description: 'the account does not reach the requested acr_values',
        });
        seeOther(ctx, to);
      });
    },
  };
}
