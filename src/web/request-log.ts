import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context, Next } from 'koa';
import { requestContext, type Logger } from '../log.js';
import { routeOf } from '../metrics.js';

/** An id a proxy in front may have given the request: taken only when TRUST_PROXY says it is ours. */
const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * First in the chain: gives each request an id (the proxy's X-Request-Id when the proxy is
 * trusted, else a new one), answers it in X-Request-Id, runs the request under it so that every
 * log line written meanwhile carries it, and writes one line when the request is answered:
 * method, route pattern, status, time and address. Never the path as sent, its query string, a
 * header or a body.
 */
export function requestLogging(log: Logger, trustProxy: boolean) {
  return function requestLog(ctx: Context, next: Next) {
    const sent = trustProxy ? ctx.get('x-request-id') : '';
    const requestId = REQUEST_ID.test(sent) ? sent : randomUUID();
    ctx.set('X-Request-Id', requestId);
    return requestContext.run({ requestId }, answerAndLog, ctx, next, log, performance.now());
  };
}

/** The rest of the chain, then the request's line (made only when the level writes it). */
async function answerAndLog(ctx: Context, next: Next, log: Logger, started: number): Promise<void> {
  try {
    await next();
  } finally {
    if (log.isLevelEnabled('info')) {
      log.info({ method: ctx.method, route: routeOf(ctx), status: ctx.status, ms: Math.round(performance.now() - started), ip: ctx.ip }, 'request');
    }
  }
}
