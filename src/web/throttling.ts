import type { Context } from 'koa';
import type { IpAction, Throttle } from '../identity/throttle.js';
import type { Refusal } from '../identity/login-attempt.js';
import { render } from './render.js';
import { translator, type Translate } from '../i18n.js';

/** What a refused login attempt tells the person: wait this many seconds, or the account is locked. */
export function refusalMessage(t: Translate, refusal: Refusal): string {
  return refusal.locked
    ? t('login.locked', { minutes: Math.ceil(refusal.retryAfterSeconds / 60) })
    : t('login.wait', { seconds: refusal.retryAfterSeconds });
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
