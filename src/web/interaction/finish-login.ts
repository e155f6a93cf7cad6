import type { Context } from 'koa';
import type { Citizen } from '../../identity/citizens.js';
import { acrForLogin, missingLevel, type AssuranceLevel } from '../../identity/assurance.js';
import type { LoginAttempts } from '../../identity/login-attempt.js';
import type { UpstreamAccounts } from '../../federation/upstream-accounts.js';
import { TTL } from '../../oidc/provider.js';
import { seeOther } from '../forms.js';
import type { Interaction } from './context.js';
import type { AssurancePage } from './assurance.js';

/**
 * The authentication methods a login used, as amr values (RFC 8176): 'pwd', or a code sent to the
 * phone ('sms', or 'whatsapp', ours), then a second factor; or 'fed', a login at an upstream. They
 * decide the acr (assurance.ts).
 */
export type Amr = string[];

/** What the online population check has done so far in this interaction (see assurance.ts). */
export interface CheckProgress {
  checks: number;
  result?: string;
}

/**
 * A login at an upstream (amr 'fed'): which upstream and whose session there (for its back-channel
 * logout), and the level it proved. Plain data: it waits in a signed cookie while the account's
 * own second factor is asked for.
 */
export interface UpstreamLogin {
  slug: string;
  subject: string;
  sid?: string;
  level: AssuranceLevel;
  /** The person signed in at the upstream for this login (not by its session): it counts as a fresh login here. */
  reauthenticated: boolean;
}

/**
 * Completes a login: at the acr the client asked for, with the amr of the methods used; or, when
 * the account does not reach it, the page that explains how it can.
 */
export function loginFinisher(loginAttempts: LoginAttempts, assurance: AssurancePage, upstreamAccounts: UpstreamAccounts) {
  return async function finishLogin(ctx: Context, interaction: Interaction, citizen: Citizen, amr: Amr,
    { progress = { checks: 0 }, upstream }: { progress?: CheckProgress; upstream?: UpstreamLogin } = {}): Promise<void> {
    const { details, origin } = interaction;
    const acr = acrForLogin(details.params.acr_values, citizen, amr, upstream?.level);
    if (!acr) {
      await loginAttempts.unmet(citizen.id, details.params.acr_values, origin);
      return assurance.show(ctx, interaction, citizen, amr, missingLevel(details.params.acr_values), progress);
    }
    assurance.forget(ctx);
    const ts = Math.floor(Date.now() / 1000);
    // The upstream session behind this login: its back-channel logout ends the session made at `ts`.
    if (upstream) await upstreamAccounts.recordSession(upstream.slug, upstream, citizen.id, ts, TTL.Session);
    await loginAttempts.succeeded(citizen.id, { acr, amr, userAgent: ctx.get('user-agent'), reauthenticated: upstream?.reauthenticated }, origin);
    const to = await interaction.finish({ login: { accountId: citizen.id, acr, amr, remember: true, ts } });
    seeOther(ctx, to);
  };
}

export type FinishLogin = ReturnType<typeof loginFinisher>;
