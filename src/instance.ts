import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from './log.js';
import type { Services } from './services.js';
import { createAdapterFactory } from './oidc/adapter.js';
import { scheduledSigningKeys } from './oidc/key-rotation.js';
import { createProvider } from './oidc/provider.js';
import { createCibaConfirmations } from './oidc/ciba.js';
import { createSingleLogout, type SingleLogout } from './oidc/logout.js';
import { createOutbound } from './oidc/outbound.js';
import { resolveCookieKeys, resolveDpopNonceSecret } from './secrets.js';
import { createApp } from './web/app.js';
import { createProviderPages } from './web/provider-pages.js';
import { isDatabaseUnavailable } from './db/db.js';

export interface Instance extends Services {
  provider: Provider;
  app: Koa;
  /** Back-channel logout deliveries; main.ts runs deliverDue every few seconds. */
  singleLogout: SingleLogout;
  /** Stops what this process does in the background: following the signing-key schedule. */
  close(): void;
}

/** One process: the services plus the provider and the web app in front of them. */
export async function createInstance(services: Services, log: Logger): Promise<Instance> {
  const { config, db, sealer, clients, citizens } = services;
  // First: it stops the start on a wrong ENCRYPTION_KEY before a secret is sealed with it.
  await services.signingKeys.ensure();
  const cookieKeys = await resolveCookieKeys(config, db, sealer);
  const dpopNonceSecret = await resolveDpopNonceSecret(db, sealer);
  await Promise.all([clients.followChanges(), citizens.followChanges(), services.resourceServers.followChanges()]);
  const stopFollowingKeys = await services.signingKeys.follow((err) => log.warn({ err }, 'signing key schedule not read'));
  const adapter = createAdapterFactory(db, clients, config.refreshTokenReuseGraceSeconds);
  const signingKeys = scheduledSigningKeys(services.signingKeys);
  const providerPages = createProviderPages(clients);
  const outbound = createOutbound(config.outboundAllow);
  const provider = createProvider({ config, adapter, signingKeys, cookieKeys, dpopNonceSecret, citizens, db, sealer, fetch: outbound.fetch, pages: providerPages, notices: services.notices, audit: services.audit, resourceServers: services.resourceServers });
  const singleLogout = createSingleLogout({ provider, outbox: services.logoutOutbox, signingKeys: services.signingKeys, db, issuer: config.issuer, log, pages: providerPages });
  provider.on('end_session.success', (ctx) => {
    void services.audit({ type: 'logout', citizenId: ctx.oidc.session?.accountId, clientId: ctx.oidc.client?.clientId, ip: ctx.ip });
  });
  // A citizen let a kiosk sign in (the confirmation of the user-code page is the consent).
  provider.on('authorization.success', (ctx) => {
    if (ctx.oidc.route !== 'code_verification' && ctx.oidc.route !== 'device_resume') return;
    void services.audit({ type: 'kiosk.approved', citizenId: ctx.oidc.session?.accountId, clientId: ctx.oidc.client?.clientId, ip: ctx.ip, details: { scope: ctx.oidc.deviceCode?.scope } });
  });
  provider.on('grant.success', (ctx) => services.metrics.tokenIssued(String(ctx.oidc.params?.grant_type)));
  provider.on('server_error', (ctx, error) => {
    if (!isDatabaseUnavailable(error)) return log.error({ err: error }, 'oidc-provider server error');
    log.warn({ err: error }, 'database unavailable');
    // JSON endpoints (token, userinfo, introspection...): 503 with the OAuth code for it, so that
    // clients retry rather than give up. Pages got theirs from renderError.
    if (ctx.response.is('json')) {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' };
    }
  });
  const csrfKey = sealer.keyedHash('csrf', 'form-token-key');
  const confirmations = createCibaConfirmations({ provider, db, clients, audit: services.audit });
  const app = createApp({ ...services, log, provider, cookieKeys, csrfKey, confirmations });
  return { ...services, provider, app, singleLogout, close: stopFollowingKeys };
}
