import type { Context, Next } from 'koa';

/**
 * Strict CSP with no inline scripts or styles. form-action also governs the redirects that follow
 * a form post (Chromium enforces it there), so pages whose form ends at a relying party add that
 * party's origin with setFormActions.
 */
function contentSecurityPolicy(formActions: string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    `form-action 'self'${formActions.map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function setFormActions(ctx: Context, origins: string[]): void {
  ctx.set('Content-Security-Policy', contentSecurityPolicy(origins));
}

export function securityHeaders(httpsOnly: boolean) {
  return async function securityHeadersMiddleware(ctx: Context, next: Next) {
    ctx.set('Content-Security-Policy', contentSecurityPolicy([]));
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    if (httpsOnly) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
    if (ctx.response.is('html')) ctx.set('Cache-Control', 'no-store');
  };
}
