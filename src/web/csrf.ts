import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { CsrfError } from '../errors.js';

/**
 * HMAC-bound double-submit token. A random per-browser secret lives in an httpOnly cookie
 * (__Host- prefixed over https, so no subdomain can plant one); the form token is its HMAC under a
 * server key. A POST to our pages must carry the token of the cookie it arrives with.
 * The cookie is set only when a page asks for a token, so protocol endpoints set none.
 */
export function csrfProtection(key: string, secure: boolean) {
  const cookieName = secure ? '__Host-kid.csrf' : 'kid.csrf';
  const tokenFor = (secret: string) => createHmac('sha256', key).update(secret).digest('base64url');
  const validSecret = (value: string | undefined): value is string => !!value && /^[A-Za-z0-9_-]{43}$/.test(value);

  return async function csrfMiddleware(ctx: Context, next: Next) {
    ctx.state.csrf = {
      token(): string {
        let secret = ctx.cookies.get(cookieName, { signed: false });
        if (!validSecret(secret)) {
          secret = randomBytes(32).toString('base64url');
          ctx.cookies.set(cookieName, secret, { httpOnly: true, sameSite: 'lax', secure, path: '/', signed: false, overwrite: true });
        }
        return tokenFor(secret);
      },
      verify(sent: unknown): void {
        const secret = ctx.cookies.get(cookieName, { signed: false });
        const expected = Buffer.from(validSecret(secret) ? tokenFor(secret) : '');
        const actual = Buffer.from(typeof sent === 'string' ? sent : '');
        if (expected.length === 0 || actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
          throw new CsrfError('CSRF token missing or invalid');
        }
      },
    };
    await next();
  };
}

/** For POST handlers of our own forms (the provider's endpoints have their own protection). */
export function requireCsrf(ctx: Context): void {
  ctx.state.csrf.verify((ctx.request.body as Record<string, unknown> | undefined)?._csrf);
}
