import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { errors as oidcErrors } from 'oidc-provider';
import type { Audit } from '../audit/audit.js';
import { CsrfError, InputError } from '../errors.js';
import { render } from './render.js';
import { knownInputErrorMessage, translator } from '../i18n.js';
import { isDatabaseUnavailable } from '../db/db.js';

/**
 * The last line of defence for our pages: every failure becomes an Indonesian (or English) error
 * page with a 4xx or 503/500 status. Never a stack trace; the log gets the error, not the input.
 */
export function errorPages(log: Logger, audit: Audit) {
  return async function errorPagesMiddleware(ctx: Context, next: Next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        const t = translator(ctx.state.lang);
        // A page that is not there: the ways on are the citizen's account and the home page.
        render(ctx, 'error', { heading: t('common.error.title'), message: t('common.error.not_found'), wayOn: true }, 404);
      }
    } catch (error) {
      const t = translator(ctx.state.lang ?? 'id');
      const { status, key } = classify(error);
      if (status >= 500) log.error({ err: error, path: ctx.path }, 'request failed');
      if (error instanceof CsrfError) {
        await audit({ type: 'csrf.rejected', ip: ctx.ip, details: { path: ctx.path } }).catch(() => {});
      }
      // An error page has no form: it needs no CSRF token (nor the cookie that minting one sets).
      ctx.state.csrf = undefined;
      // Bad input with a message of its own says what was wrong; anything else, what kind of failure.
      const message = (error instanceof InputError && knownInputErrorMessage(error, ctx.state.lang ?? 'id')) || t(`common.error.${key}`);
      render(ctx, 'error', { heading: t('common.error.title'), message, wayOn: status === 404 }, status);
    }
  };
}

function classify(error: unknown): { status: number; key: string } {
  if (error instanceof CsrfError) return { status: 403, key: 'csrf' };
  if (error instanceof InputError) return { status: 400, key: 'bad_request' };
  if (isDatabaseUnavailable(error)) return { status: 503, key: 'unavailable' };
  // oidc-provider: the interaction cookie is missing or the interaction expired.
  if (error instanceof oidcErrors.SessionNotFound) return { status: 400, key: 'expired' };
  const e = error as { status?: number; statusCode?: number };
  const status = e.statusCode ?? e.status ?? 500;
  if (status >= 400 && status < 500) return { status, key: status === 404 ? 'not_found' : 'bad_request' };
  return { status: 500, key: 'server' };
}
