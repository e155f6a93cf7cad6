import type { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';

/**
 * @koa/bodyparser's middleware with the library (co-body, qs, iconv-lite) loaded at the first body
 * it reads instead of at every start.
 */
export function lazyBodyParser(options: Parameters<typeof bodyParser>[0]): Middleware {
  let parser: Promise<Middleware> | undefined;
  return async (ctx: Context, next: Next) => {
    parser ??= import('@koa/bodyparser').then((library) => library.bodyParser(options) as Middleware);
    return (await parser)(ctx, next);
  };
}
