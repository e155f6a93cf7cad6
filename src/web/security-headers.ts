import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * Strict CSP with no inline scripts or styles. form-action also governs the redirects that follow
 * a form post (Chromium enforces it there), so pages whose form ends at a relying party add that
 * party's origin with allowFormActions.
 */
const CONTENT_SECURITY_POLICY = [
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

/** The headers of every answer. */
const HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()'],
];
const STRICT_TRANSPORT_SECURITY = ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'] as const;

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
  if (!client || !params) return;
  const targets = [
    typeof params.redirect_uri === 'string' && client.redirectUriAllowed(params.redirect_uri) ? params.redirect_uri : undefined,
    typeof params.post_logout_redirect_uri === 'string' && client.postLogoutRedirectUriAllowed(params.post_logout_redirect_uri)
      ? params.post_logout_redirect_uri
      : undefined,
  ];
  allowFormActions(ctx, targets.flatMap((uri) => (uri ? [new URL(uri).origin] : [])));
}

export function securityHeaders(httpsOnly: boolean) {
  const headers = httpsOnly ? [...HEADERS, STRICT_TRANSPORT_SECURITY] : HEADERS;
  return async function securityHeadersMiddleware(ctx: Context, next: Next) {
    for (const [name, value] of headers) ctx.set(name, value);
    await next();
    // Pages only (the answers' type as set by Koa's ctx.type, without parameters).
    if (ctx.response.type === 'text/html') {
      allowRelyingPartyFormTarget(ctx as KoaContextWithOIDC);
      ctx.set('Cache-Control', 'no-store');
    }
  };
}
