import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { CsrfError } from '../errors.js';
import { lazyBodyParser } from './body-parser.js';

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

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Reads a urlencoded form body of at most `limit`; more is answered 413. The form check reads
 * forms up to 16 kB; an area whose forms carry more (a JWKS) reads its own first, with this.
 */
export const formBody = (limit: string) => lazyBodyParser({ enableTypes: ['form'], formLimit: limit });
const smallFormBody = formBody('16kb');

/**
 * The check of every form post: its body is read as a form (unless a route middleware read it
 * already, as an upload does), and it must carry the CSRF token of the cookie it arrives with.
 */
async function checkFormPost(ctx: Context, next: Next): Promise<void> {
  await smallFormBody(ctx, async () => {});
  ctx.state.csrf.verify((ctx.request.body as Record<string, unknown> | undefined)?._csrf);
  await next();
}

/**
 * Gives every state-changing route (POST, PUT, PATCH, DELETE) of our routers the form check, placed
 * right before its handler: after the route's guards, so that a signed-out browser is still sent
 * to sign in and a missing role still says so. Routes answering JSON to other programs (which
 * carry a bearer token, not a cookie) opt out by their route name; a listed name that no route,
 * or more than one, has is a mistake, and stops the start. Call it once every route is registered.
 */
export function checkFormPosts(routers: Router[], jsonEndpoints: readonly string[]): void {
  const layers = routers.flatMap((router) => router.stack).filter((layer) => layer.methods.some((method) => STATE_CHANGING.has(method)));
  for (const name of jsonEndpoints) {
    const named = layers.filter((layer) => layer.name === name).length;
    if (named !== 1) throw new Error(`${named} state-changing routes are named ${name}: an opt-out must name exactly one`);
  }
  for (const layer of layers) {
    if (!(layer.name && jsonEndpoints.includes(layer.name))) layer.stack.splice(layer.stack.length - 1, 0, checkFormPost);
  }
}
