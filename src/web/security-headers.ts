import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * Strict CSP with no inline scripts or styles. form-action also governs the redirects that follow
 * a form post (Chromium enforces it there), so pages whose form ends at a relying party add that
 * party's origin with allowFormActions.
 */
function contentSecurityPolicy(): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Adds origins to the form-action directive of the policy already set on this response. */
export function allowFormActions(ctx: Context, origins: string[]): void {
  if (origins.length === 0) return;
  const policy = ctx.response.get('Content-Security-Policy');
  ctx.set('Content-Security-Policy', policy.replace(/form-action ([^;]*)/, (_, sources: string) => `form-action ${[sources, ...origins].join(' ')}`));
}

/** Lets this response's page frame exactly these origins (default-src 'none' forbids frames otherwise). */
export function allowFrames(ctx: Context, origins: string[]): void {
  if (origins.length === 0) return;
  ctx.set('Content-Security-Policy', `${ctx.response.get('Content-Security-Policy')}; frame-src ${[...new Set(origins)].join(' ')}`);
}

/**
 * oidc-provider's own pages whose form ends at a relying party: a form_post response, the logout
 * confirmation and its automatic continuation. The party's origin is allowed only for a URI that
 * its client registered.
 */
function allowRelyingPartyFormTarget(ctx: KoaContextWithOIDC): void {
  const { client, params } = ctx.oidc ?? {};
  if (!client || !params || !ctx.response.is('html')) return;
  const targets = [
    typeof params.redirect_uri === 'string' && client.redirectUriAllowed(params.redirect_uri) ? params.redirect_uri : undefined,
    typeof params.post_logout_redirect_uri === 'string' && client.postLogoutRedirectUriAllowed(params.post_logout_redirect_uri)
      ? params.post_logout_redirect_uri
      : undefined,
  ];
  allowFormActions(ctx, targets.flatMap((uri) => (uri ? [new URL(uri).origin] : [])));
}

export function securityHeaders(httpsOnly: boolean) {
  return async function securityHeadersMiddleware(ctx: Context, next: Next) {
    ctx.set('Content-Security-Policy', contentSecurityPolicy());
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    if (httpsOnly) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
    allowRelyingPartyFormTarget(ctx as KoaContextWithOIDC);
    if (ctx.response.is('html')) ctx.set('Cache-Control', 'no-store');
  };
}
