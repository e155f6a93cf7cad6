import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Citizen } from '../../identity/citizens.js';
import { acrForLogin, missingLevel } from '../../identity/assurance.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import { seeOther } from '../forms.js';
import type { Interaction } from './context.js';
import type { AssurancePage } from './assurance.js';

/**
 * The authentication methods a login used, as amr values (RFC 8176): 'pwd', or a code sent to the
 * phone ('sms', or 'whatsapp', ours), then a second factor. They decide the acr (assurance.ts).
 */
export type Amr = string[];

/** What the online population check has done so far in this interaction (see assurance.ts). */
export interface CheckProgress {
  checks: number;
  result?: string;
}

/**
 * Completes a login: at the acr the client asked for, with the amr of the methods used; or, when
 * the account does not reach it, the page that explains how it can.
 */
export function loginFinisher(provider: Provider, loginAttempts: LoginAttempts, assurance: AssurancePage) {
  return async function finishLogin(ctx: Context, interaction: Interaction, citizen: Citizen, amr: Amr, progress: CheckProgress = { checks: 0 }): Promise<void> {
    const { details, origin } = interaction;
    const acr = acrForLogin(details.params.acr_values, citizen, amr);
    if (!acr) {
      await loginAttempts.unmet(citizen.id, details.params.acr_values, origin);
      return assurance.show(ctx, interaction, citizen, amr, missingLevel(details.params.acr_values), progress);
    }
    assurance.forget(ctx);
    await loginAttempts.succeeded(citizen.id, { acr, amr, userAgent: ctx.get('user-agent') }, origin);
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: citizen.id, acr, amr, remember: true } });
    seeOther(ctx, to);
  };
}

export type FinishLogin = ReturnType<typeof loginFinisher>;
