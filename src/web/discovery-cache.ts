import type { Context, Middleware, Next } from 'koa';
import { nameRoute } from '../metrics.js';

const DISCOVERY = '/.well-known/openid-configuration';

/**
 * In front of the provider: oidc-provider builds its discovery document afresh at every request,
 * though the document follows only from its configuration (fixed while the process runs; no key
 * is in it) and from the origin asked (the endpoints' URLs). So the provider's first answer to a
 * plain GET on the issuer's own origin is kept, its body and the headers the provider set (the
 * JSON type, CORS), and given again to the next such requests. Any other request (another origin,
 * an Origin header, which CORS answers by name, another method) still goes to the provider.
 */
export function cachedDiscovery(issuer: string): Middleware {
  // The provider makes the endpoints' URLs on the request's href (protocol, host, or an absolute request line).
  const onIssuerOrigin = `${new URL(issuer).origin}/`;
  let kept: { body: Buffer; headers: Array<[string, string | string[]]> } | undefined;

  return function discovery(ctx: Context, next: Next) {
    if (ctx.path !== DISCOVERY || ctx.method !== 'GET' || ctx.get('Origin') || !ctx.href.startsWith(onIssuerOrigin)) return next();
    if (!kept) return keep(ctx, next);
    for (const [name, value] of kept.headers) ctx.set(name, value);
    nameRoute(ctx, DISCOVERY);
    ctx.body = kept.body;
  };

  async function keep(ctx: Context, next: Next) {
    const before = { ...ctx.response.headers };
    await next();
    if (ctx.status !== 200 || typeof ctx.body !== 'object' || Buffer.isBuffer(ctx.body)) return;
    const headers = Object.entries(ctx.response.headers).flatMap(([name, value]): Array<[string, string | string[]]> =>
      value === undefined || value === before[name] ? [] : [[name, typeof value === 'number' ? String(value) : value]]);
    // Never given again to another: a cookie (the provider sets none here).
    if (headers.some(([name]) => name === 'set-cookie')) return;
    kept = { body: Buffer.from(JSON.stringify(ctx.body)), headers };
  }
}
