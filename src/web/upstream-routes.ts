import Router from '@koa/router';
import type { Context } from 'koa';
import type { Audit } from '../audit/audit.js';
import type { UpstreamAccounts } from '../federation/upstream-accounts.js';
import { UpstreamError, type UpstreamClient } from '../federation/upstream-client.js';
import { upstreamAddress, type Upstreams } from '../federation/upstreams.js';
import { formBody } from './csrf.js';
import { seeOther } from './forms.js';
import { tripFailed, upstreamTrip } from './upstream-trip.js';
import { withinIpLimit } from './throttling.js';
import type { Throttle } from '../identity/throttle.js';
import { UPSTREAM_SLUG } from '../config.js';

/** The upstream's back-channel logout posts a logout token, not a form of ours: no CSRF token (see csrf.ts). */
export const UPSTREAM_LOGOUT_ENDPOINTS = ['upstream.logout'];

/**
 * What the upstreams (INApas, IKD) reach of Kediri ID as their relying party:
 *
 *   GET  /masuk-dengan/:slug/kembali    the redirect URI: the answer to our authorization request
 *   POST /masuk-dengan/:slug/keluar     back-channel logout: the upstream session ended
 *   GET  /masuk-dengan/:slug/jwks.json  our public key for private_key_jwt
 *   GET  /masuk-dengan/:slug/logo       the login page button's logo
 */
export function upstreamRoutes({ issuer, upstreams, upstreamClient, upstreamAccounts, throttle, audit }: {
  issuer: string;
  throttle: Throttle;
  upstreams: Upstreams;
  upstreamClient: UpstreamClient;
  upstreamAccounts: UpstreamAccounts;
  audit: Audit;
}): Router {
  const router = new Router({ prefix: '/masuk-dengan/:slug' });

  router.get('/kembali', async (ctx) => {
    const slug = String(ctx.params.slug);
    if (!UPSTREAM_SLUG.test(slug)) return;
    if (!(await withinIpLimit(ctx, throttle, 'login'))) return;
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const currentUrl = new URL(`${upstreamAddress(issuer, slug, 'kembali')}?${ctx.querystring}`);
    // The answer's code and state go no further than this: not into the page's links.
    ctx.querystring = '';
    const trip = upstreamTrip.get(ctx);
    const request = trip && state && trip.state === state ? await upstreamAccounts.takeReturn(state, trip.browser) : undefined;
    const found = request?.slug === slug ? await upstreams.find(slug) : undefined;
    // An upstream switched off stops the sign-ins under way too.
    const upstream = found?.enabled ? found : undefined;
    const credentials = upstream && (await upstreams.credentials(slug));
    if (!request || !upstream || !credentials) return tripFailed(ctx, audit, 'state_invalid', { slug, interactionUid: request?.interactionUid, stage: 'return' });
    const failed = (reason: UpstreamError['reason']) => tripFailed(ctx, audit, reason, { slug, label: upstream.label, interactionUid: request.interactionUid, stage: 'return' });
    try {
      const identity = await upstreamClient.finish(upstream, credentials, currentUrl, request.checks);
      await upstreamAccounts.keepIdentity(state, identity);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      return failed(error.reason);
    }
    seeOther(ctx, `/interaction/${request.interactionUid}/hubungkan`);
  });

  router.post('upstream.logout', '/keluar', formBody('16kb'), async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const slug = String(ctx.params.slug);
    const refuse = async (reason: string) => {
      await audit({ type: 'upstream.logout_refused', ip: ctx.ip, details: { upstream: slug, reason } });
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: reason };
    };
    const token = (ctx.request.body as Record<string, unknown> | undefined)?.logout_token;
    // Only a configured upstream's refusals are audited: anyone may post here.
    const upstream = UPSTREAM_SLUG.test(slug) ? await upstreams.find(slug) : undefined;
    const credentials = upstream && (await upstreams.credentials(slug));
    if (!upstream || !credentials) {
      ctx.status = 404;
      ctx.body = { error: 'invalid_request', error_description: 'unknown upstream' };
      return;
    }
    if (typeof token !== 'string' || !token) return refuse('logout_token is required');
    try {
      const logout = await upstreamClient.verifyLogoutToken(upstream, credentials, token);
      if ((await upstreamAccounts.logout(slug, logout)) === 'replayed') return refuse('the logout token was used before');
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      return refuse(`the logout token is not valid (${error.reason})`);
    }
    ctx.status = 200;
  });

  router.get('/jwks.json', async (ctx) => {
    const upstream = await upstreams.find(String(ctx.params.slug));
    if (!upstream) return;
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = { keys: [upstream.publicJwk] };
  });

  router.get('/logo', async (ctx: Context) => {
    const logo = await upstreams.logo(String(ctx.params.slug));
    if (!logo) return;
    ctx.type = logo.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = logo.bytes;
  });

  return router;
}
