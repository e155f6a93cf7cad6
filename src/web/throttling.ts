import type { Context } from 'koa';
import type { IpAction, Throttle, Verdict } from '../identity/throttle.js';
import { render } from './render.js';
import { translator } from '../i18n.js';

/** The first refusal among checks run in order (a later check runs only when the earlier allow). */
export async function firstRefusal(first: Promise<Verdict>, ...rest: Array<() => Promise<Verdict>>): Promise<Verdict> {
  let verdict = await first;
  for (const next of rest) {
    if (!verdict.allowed) break;
    verdict = await next();
  }
  return verdict;
}

/**
 * Counts this form post against the address's limit for the action; past it, answers 429 with
 * a page that says when to try again, and returns false.
 */
export async function withinIpLimit(ctx: Context, throttle: Throttle, action: IpAction): Promise<boolean> {
  const verdict = await throttle.ipAttempt(action, ctx.ip);
  if (verdict.allowed) return true;
  ctx.set('Retry-After', String(verdict.retryAfterSeconds));
  const t = translator(ctx.state.lang);
  render(ctx, 'error', { message: t('common.error.too_many', { minutes: Math.ceil(verdict.retryAfterSeconds / 60) }) }, 429);
  return false;
}
