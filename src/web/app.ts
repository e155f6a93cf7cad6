import Koa from 'koa';
import { availableChannels } from '../messaging/gateways.js';
import mount from 'koa-mount';
import Router from '@koa/router';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Provider from 'oidc-provider';
import type { Logger } from '../log.js';
import type { Services } from '../services.js';
import type { CibaConfirmations } from '../oidc/ciba.js';
import { checkFormPosts, csrfProtection } from './csrf.js';
import { errorPages } from './errors.js';
import { language } from './language.js';
import { render } from './render.js';
import { securityHeaders } from './security-headers.js';
import { withinIpLimit } from './throttling.js';
import { interactionRoutes } from './interaction/routes.js';
import { registerRoutes } from './register/routes.js';
import { resetRoutes } from './reset/routes.js';
import { devMailRoutes } from './dev-mail.js';
import { devPesanRoutes } from './dev-pesan.js';
import { portalSession } from './portal/session.js';
import { counterRoutes } from './counter/routes.js';
import { accountRoutes } from './account/routes.js';
import { profileRoutes } from './account/profile-routes.js';
import { phoneRoutes } from './account/phone-routes.js';
import { factorRoutes } from './account/factor-routes.js';
import { confirmationRoutes } from './account/confirmation-routes.js';
import { servePublishedKeys } from '../oidc/key-rotation.js';
import { cachedDiscovery } from './discovery-cache.js';
import { readinessProblems } from '../readiness.js';
import { requestLogging } from './request-log.js';
import { refuseUnstorableUrls } from './input-guard.js';
import { adminRouter } from './admin/router.js';
import { developerRouter } from './developer/router.js';
import { invitationRoutes } from './invitation-routes.js';
import { homeRoutes } from './home-routes.js';
import { initiateLoginRoutes } from './initiate-login-routes.js';
import { catalogueRoutes } from './catalogue-routes.js';
import { DYNAMIC_REGISTRATION_ENDPOINTS, dynamicRegistrationRoutes } from './dynamic-registration-routes.js';
import { UPSTREAM_LOGOUT_ENDPOINTS, upstreamRoutes } from './upstream-routes.js';

/** What the web app is built from: the services, the provider, and the keys of this instance. */
export type AppDeps = Services & {
  log: Logger;
  provider: Provider;
  cookieKeys: string[];
  csrfKey: string;
  /** The counters' requests (CIBA) a citizen answers on /akun. */
  confirmations: CibaConfirmations;
};

const WEBAUTHN_BROWSER = new URL('../dist/bundle/index.umd.min.js', `file://${createRequire(import.meta.url).resolve('@simplewebauthn/browser')}`);

/** The files pages load: our stylesheet and scripts, and @simplewebauthn/browser's bundle (no CDN). */
const STATIC: Record<string, { type: string; body: Buffer }> = {
  'app.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('../../static/app.css', import.meta.url)) },
  'passkey.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('../../static/passkey.js', import.meta.url)) },
  'keep-typed.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('../../static/keep-typed.js', import.meta.url)) },
  'recovery-codes.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('../../static/recovery-codes.js', import.meta.url)) },
  'webauthn.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(WEBAUTHN_BROWSER) },
};

/** oidc-provider's routes that answer JSON only (none of our routes share them). */
const PAGELESS_PROVIDER_PATHS = new Set([
  '/.well-known/openid-configuration', '/jwks', '/token', '/me', '/token/introspection', '/token/revocation', '/request',
  '/backchannel',
  '/device/auth',
]);

/** The kiosk's user-code page (oidc-provider's code_verification route). */
const USER_CODE_PAGE = '/device';

/** The whole HTTP surface: our pages and operations endpoints in front, oidc-provider behind. */
export function createApp(deps: AppDeps): Koa {
  const { config, db, log, provider } = deps;
  const https = config.issuer.startsWith('https:');
  const app = new Koa();
  // The provider is mounted inside this app: its cookies are signed with this app's keys.
  app.keys = deps.cookieKeys;
  app.proxy = config.trustProxy;
  // One proxy in front: the client's address is the last X-Forwarded-For entry, the one the proxy
  // added (the entries before it are whatever the client sent).
  app.maxIpsCount = 1;

  // What every answer gets (docs/performance.md has what each costs).
  app.use(requestLogging(log, config.trustProxy));
  app.use(deps.metrics.http);
  app.use(securityHeaders(https));
  // Every 503 (the database out of reach, a process not ready) says when to try again.
  app.use(async (ctx, next) => {
    await next();
    if (ctx.status === 503) ctx.set('Retry-After', '5');
  });
  app.use(refuseUnstorableUrls);
  // The provider's error pages (a person's browser at a JSON endpoint) are in the person's language too.
  app.use(language);
  app.use(errorPages(log, deps.audit));

  // The provider's endpoints that never show a page go to it at once, past our pages' routers and
  // what only they need; discovery and the JWKS are answered from memory.
  const toProvider = mount(provider);
  app.use(cachedDiscovery(config.issuer));
  app.use(servePublishedKeys(deps.signingKeys));
  app.use((ctx, next) => (PAGELESS_PROVIDER_PATHS.has(ctx.path) ? toProvider(ctx, next) : next()));

  app.use(csrfProtection(deps.csrfKey, https));
  // Each code tried on the user-code page counts against the address, so that codes cannot be
  // guessed (the page's form is the provider's, checked by its own xsrf token).
  app.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === USER_CODE_PAGE && !(await withinIpLimit(ctx, deps.throttle, 'code'))) return;
    await next();
  });

  const pages = new Router();
  pages.get('/privasi', (ctx) => render(ctx, 'privacy'));
  pages.get('/static/:file', (ctx) => {
    const name = ctx.params.file!;
    if (!Object.hasOwn(STATIC, name)) return;
    const file = STATIC[name]!;
    ctx.type = file.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file.body;
  });
  // A unit's logo, shown beside its services' names (uploaded by an administrator; PNG or JPEG only).
  pages.get('/unit/:slug/logo', async (ctx) => {
    const logo = await deps.units.logo(String(ctx.params.slug));
    if (!logo) return;
    ctx.type = logo.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = logo.bytes;
  });
  pages.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // Asked often by load balancers, and by anyone: one check a second at most.
  let readiness: { at: number; problems: Promise<string[]> } | undefined;
  pages.get('/readyz', async (ctx) => {
    if (!readiness || Date.now() - readiness.at > 1000) readiness = { at: Date.now(), problems: readinessProblems(db, deps.signingKeys) };
    const problems = await readiness.problems;
    ctx.status = problems.length === 0 ? 200 : 503;
    ctx.body = problems.length === 0 ? { status: 'ready' } : { status: 'not ready', problems };
  });

  // The ways a code can reach a phone: the configured gateways (both, written to the log, without one).
  const channels = availableChannels(config);
  const portal = portalSession(provider, deps, config.issuer);
  const routers = [
    pages,
    homeRoutes(deps, portal.currentAccount),
    initiateLoginRoutes({ db, issuer: config.issuer }),
    catalogueRoutes(deps.catalogue),
    interactionRoutes({
      ...deps,
      onlineCheckAvailable: deps.identityVerification !== undefined,
      channels,
      codeSignIn: config.phone.codeSignIn,
      foreignPrefixes: config.phone.foreignPrefixes,
    }),
    upstreamRoutes({ ...deps, issuer: config.issuer }),
    registerRoutes(deps.registration, deps.throttle, channels, config.phone.foreignPrefixes, db),
    resetRoutes(deps.passwordReset, deps.throttle, channels, config.phone.foreignPrefixes),
    ...(config.devMail ? [devMailRoutes(deps.outbox), devPesanRoutes(deps.messages)] : []),
    portal.routes,
    counterRoutes(deps.staff, portal.requireRole('officer'), config.phone.foreignPrefixes),
    profileRoutes(deps, portal),
    phoneRoutes(deps, portal, channels),
    accountRoutes(deps, portal),
    confirmationRoutes(deps.confirmations, portal.signedIn),
    factorRoutes(deps, portal),
    invitationRoutes(deps.staff, portal),
    adminRouter(deps, portal.requireRole('admin'), portal.recentLogin),
    developerRouter(deps, portal.requireRole('developer'), portal.recentLogin),
    dynamicRegistrationRoutes(deps),
  ];
  checkFormPosts(routers, [...DYNAMIC_REGISTRATION_ENDPOINTS, ...UPSTREAM_LOGOUT_ENDPOINTS]);
  for (const router of routers) app.use(router.routes());

  app.use(toProvider);
  return app;
}
