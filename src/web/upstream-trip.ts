import type { Context } from 'koa';
import type { Audit } from '../audit/audit.js';
import { REQUEST_TTL_SECONDS } from '../federation/upstream-accounts.js';
import type { UpstreamFailure } from '../federation/upstream-client.js';
import { hasFields, jsonCookie } from './json-cookie.js';
import { render } from './render.js';

/**
 * The browser's half of a trip to an upstream (INApas, IKD) and back: the request's state and a
 * secret whose keyed hash the server keeps. The upstream's answer is accepted only with both, so
 * that an answer (a code) carried to another browser signs nobody in there.
 */
export interface UpstreamTrip {
  state: string;
  browser: string;
  /** The code sent to the phone or the email of the account to link, once one was asked for (its lifetime and tries are kept on the server). */
  codeId?: string;
  codeBy?: 'phone' | 'email';
}
export const upstreamTrip = jsonCookie('kid.upstream', REQUEST_TTL_SECONDS * 1000, (v): v is UpstreamTrip =>
  hasFields(v, { state: 'string', browser: 'string' }) && ['string', 'undefined'].includes(typeof (v as UpstreamTrip).codeId)
  && [undefined, 'phone', 'email'].includes((v as UpstreamTrip).codeBy));

/** Why a sign-in at an upstream did not work: the upstream's failures, or an answer that is not this browser's (or used already). */
export type TripProblem = UpstreamFailure | 'state_invalid' | 'unknown_upstream';

const STATUS: Record<TripProblem, number> = {
  unreachable: 502,
  invalid_response: 502,
  timeout: 504,
  refused: 400,
  state_invalid: 400,
  unknown_upstream: 404,
};

/**
 * The page that says a sign-in at an upstream did not work, and the other ways to sign in: back
 * to the login page of the interaction when it is known. Audited; nothing was created or linked.
 */
export async function tripFailed(ctx: Context, audit: Audit, problem: TripProblem, { slug, label, interactionUid, stage }: {
  slug: string;
  label?: string;
  interactionUid?: string;
  stage: 'start' | 'return' | 'continue';
}): Promise<void> {
  await audit({ type: 'upstream.failed', ip: ctx.ip, details: { upstream: slug, reason: problem, stage } });
  render(ctx, 'interaction/upstream-error', {
    problem,
    label: label ?? slug,
    loginHref: interactionUid ? `/interaction/${interactionUid}` : undefined,
  }, STATUS[problem]);
}
