import type { Context, Next } from 'koa';

/** Percent-encoded NUL, or any NUL, anywhere in the URL. */
const NUL = /%00|\u0000/i;

/**
 * Early in the chain: a URL holding a NUL, or whose path is not valid percent-encoded UTF-8
 * (decodeURIComponent refuses it, lone surrogates included), is answered 400 before any route
 * sees it. No page or protocol parameter needs either, and
 * PostgreSQL refuses both in text and jsonb (an error, where an answer was due).
 */
export function refuseUnstorableUrls(ctx: Context, next: Next) {
  let path: string | undefined;
  try {
    path = decodeURIComponent(ctx.path);
  } catch {
    path = undefined;
  }
  if (path === undefined || NUL.test(ctx.url)) {
    ctx.status = 400;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = 'Permintaan tidak valid. / Bad request.';
    return;
  }
  return next();
}
