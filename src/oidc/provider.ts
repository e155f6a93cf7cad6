import Provider, { errors, interactionPolicy, type Configuration, type ExternalSigningKey, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.js';
import type { CitizenStore } from '../identity/citizens.js';
import { ACR_VALUES } from '../identity/assurance.js';
import { rememberedGrantId, type createAdapterFactory } from './adapter.js';
import { finishRequest } from './request-state.js';
import { SCOPE_CLAIMS, expectRelease } from './released-claims.js';
import { PORTAL_CLIENT_ID, PORTAL_CLIENT_NAME, portalRedirectUri } from './portal-client.js';
import { pairwiseSubject } from './pairwise.js';
import type { Db } from '../db/db.js';
import type { Sealer } from '../secrets.js';
import type { Audit } from '../audit/audit.js';
import type { CitizenNotices } from '../identity/citizen-notices.js';
import { cibaFeature, cibaRequestTtl, cibaUnauthorizedClient } from './ciba.js';
import { DEVICE_CODE_GRANT } from '../clients/clients.js';
import type { ResourceServers } from '../clients/resource-servers.js';
import { authenticationClaims, resourceIndicatorsFeature, resourceTokenTtl } from './resource-indicators.js';

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Short-lived artifacts, every one named (nothing falls back to a library default). */
export const TTL = {
  AuthorizationCode: MINUTE,
  AccessToken: 10 * MINUTE,
  IdToken: 10 * MINUTE,
  ClientCredentials: 10 * MINUTE,
  Interaction: 15 * MINUTE,
  Session: 8 * HOUR,
  RefreshToken: 14 * DAY,
  Grant: 30 * DAY,
  // A counter's request waits a few minutes for the citizen (ciba.ts).
  BackchannelAuthenticationRequest: cibaRequestTtl,
  DeviceCode: 10 * MINUTE,
} as const;

/**
 * A kiosk's tokens (clients an administrator marked as kiosks, kediri_kiosk in their metadata):
 * a sitting at a machine in the MPP, not a working day. There is no refresh token (clients.ts
 * kioskMetadata), and the tokens end with the citizen's session on the phone that approved them
 * (oidc-provider's expiresWithSession, as no offline_access is granted).
 */
export const KIOSK_TTL = {
  AccessToken: 5 * MINUTE,
  IdToken: 5 * MINUTE,
  Grant: 10 * MINUTE,
} as const;

const isKiosk = (client: object | undefined) => client !== undefined && 'kediri_kiosk' in client && client.kediri_kiosk === true;

/**
 * The lifetime of an artifact: the kiosk's where its client (or the request's, for a grant) is a
 * kiosk, else the usual one. A grant saved by our own pages (the consent step) has no provider
 * request around it, and is never a kiosk's (the kiosk's confirmation makes its grant).
 */
const kioskAware = (name: keyof typeof KIOSK_TTL) => (ctx: KoaContextWithOIDC | undefined, _artifact: unknown, client?: object) =>
  isKiosk(client ?? ctx?.oidc?.client) ? KIOSK_TTL[name] : TTL[name];

/**
 * An access token's lifetime: a token for a resource server lives as long as that server says
 * (resource-indicators.ts), a kiosk's no longer than a kiosk's; any other token `usual`.
 */
const resourceAware = (usual: (ctx: KoaContextWithOIDC | undefined, token: unknown, client?: object) => number) =>
  (ctx: KoaContextWithOIDC | undefined, token: unknown, client?: object) => {
    const forResource = resourceTokenTtl(token);
    if (forResource === undefined) return usual(ctx, token, client);
    return isKiosk(client ?? ctx?.oidc?.client) ? Math.min(forResource, usual(ctx, token, client)) : forResource;
  };

/** The provider's routes of the user-code page (`/device`) and of the sign-in it leads to. */
const DEVICE_ROUTES = new Set(['code_verification', 'device_resume']);

/** Why the user-code page is shown again (the provider's errors of the device flow, by name). */
export type DeviceCodeProblem = 'missing' | 'not_found' | 'expired' | 'used' | 'cancelled' | 'failed';

const DEVICE_PROBLEMS: Record<string, DeviceCodeProblem> = {
  NoCodeError: 'missing',
  NotFoundError: 'not_found',
  ExpiredError: 'expired',
  AlreadyUsedError: 'used',
  AbortedError: 'cancelled',
};

/**
 * A client that is not a kiosk asking for a device code: the provider answers invalid_request;
 * RFC 6749 §5.2 names this case unauthorized_client (the client may not use this grant type),
 * as the token endpoint already says for it.
 */
async function unauthorizedForTheDeviceFlow(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
  await next();
  const client = ctx.oidc?.client;
  if (ctx.oidc?.route !== 'device_authorization' || ctx.status !== 400 || !client || client.grantTypeAllowed(DEVICE_CODE_GRANT)) return;
  const body = ctx.body as { error?: string } | undefined;
  if (body?.error === 'invalid_request') ctx.body = { ...body, error: 'unauthorized_client' };
}

/**
 * The provider's own anti-forgery token of a device-flow form (it keeps the token in the
 * session and checks it on the post): our pages draw their own forms and carry it over.
 */
function xsrfOf(form: string): string {
  const token = /name="xsrf" value="([0-9a-f]+)"/.exec(form)?.[1];
  if (!token) throw new Error('the device flow form carries no xsrf token');
  return token;
}

/**
 * The default prompts, plus: a session whose acr is not among the client's acr_values asks for a
 * login again (where the login decides whether the account now reaches one of them).
 */
function interactionPolicyWithAcr() {
  const { Check, base } = interactionPolicy;
  const policy = base();
  policy.get('login')!.checks.add(
    // A check added to a prompt has no error of its own: with prompt=none, the login prompt's.
    new Check('acr_values', 'the session does not meet the requested acr_values', 'login_required', (ctx) => {
      const requested = ctx.oidc.params?.acr_values;
      if (typeof requested !== 'string' || !ctx.oidc.session?.accountId) return Check.NO_NEED_TO_PROMPT;
      return requested.split(' ').includes(String(ctx.oidc.acr)) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}

/**
 * The pages the provider shows a person. They are made in web/ (web/provider-pages.ts) and handed
 * in by the composition root (instance.ts), as oidc-provider's configuration takes them: functions.
 */
export interface ProviderPages {
  /** A protocol error shown to a person (the provider's renderError). */
  renderError: NonNullable<Configuration['renderError']>;
  /** The logout confirmation, with the provider's form in it. */
  logoutSource(ctx: KoaContextWithOIDC, form: string): void;
  /** "Signed out", when the relying party gave no post_logout_redirect_uri. */
  postLogoutSuccessSource(ctx: KoaContextWithOIDC): void;
  /** "Signed out" with one iframe per front-channel logout URI, continuing to `onward` if given (logout.ts). */
  frontchannelLogout(ctx: KoaContextWithOIDC, frames: string[], onward: string | undefined): void;
  /**
   * The kiosk's user-code page (`/device`): a form posting `xsrf` and `user_code` to `action`;
   * again with the problem and the code typed when the code was not accepted.
   */
  deviceCodeInput(ctx: KoaContextWithOIDC, input: { action: string; xsrf: string; userCode?: string; problem?: DeviceCodeProblem }): Promise<void>;
  /**
   * The confirmation: the kiosk (client), what it asks to see, and a form posting `xsrf`,
   * `user_code` and either `confirm` or `abort` to `action`. Confirming is the citizen's consent.
   */
  deviceCodeConfirm(ctx: KoaContextWithOIDC, confirm: { action: string; xsrf: string; userCode: string; clientId: string; scopes: string[] }): Promise<void>;
  /** The kiosk is signed in: the citizen may close the page. */
  deviceCodeSuccess(ctx: KoaContextWithOIDC, clientId: string): Promise<void>;
}

interface ProviderDeps {
  config: Config;
  adapter: ReturnType<typeof createAdapterFactory>;
  /** Slots that follow the key schedule in the database (key-rotation.ts). */
  signingKeys: ExternalSigningKey[];
  cookieKeys: string[];
  /** The instance's DPoP nonce secret, the same in every process (secrets.ts). */
  dpopNonceSecret: Buffer;
  citizens: CitizenStore;
  /** For the remembered grants (payloads.ts). */
  db: Db;
  /** Keys the pairwise subjects (pairwise.ts). */
  sealer: Sealer;
  /** fetch() through the outbound allowlist (outbound.ts). */
  fetch: NonNullable<Configuration['fetch']>;
  pages: ProviderPages;
  /** A counter's request to confirm is announced (ciba.ts) and audited. */
  notices: CitizenNotices;
  audit: Audit;
  /** The APIs that clients may ask access tokens for (resource-indicators.ts). */
  resourceServers: ResourceServers;
}

export function createProvider({ config, adapter, signingKeys, cookieKeys, dpopNonceSecret, citizens, db, sealer, fetch, pages, notices, audit, resourceServers }: ProviderDeps): Provider {
  const secure = config.issuer.startsWith('https:');
  const configuration: Configuration = {
    adapter,
    // Back-channel logout and a client's jwks_uri: no private or loopback address unless
    // OUTBOUND_ALLOW names it (the provider's own SSRF protection would refuse them all).
    fetch,
    clients: [
      {
        client_id: PORTAL_CLIENT_ID,
        client_name: PORTAL_CLIENT_NAME,
        token_endpoint_auth_method: 'none',
        redirect_uris: [portalRedirectUri(config.issuer)],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        scope: 'openid',
        // Its sub is the account id that the portal session keeps (web/portal/session.ts).
        subject_type: 'public',
      },
    ],
    // A citizen consents to each unit's service once: the grant is remembered across sessions
    // (until revoked or expired), and asked again only for what it does not cover yet. Kediri ID's
    // own portal asks none.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const clientId = oidc.client!.clientId;
      // A kiosk's confirmation on the user-code page is the consent, given for this sign-in alone:
      // a fresh grant of what the kiosk asked for (its scope is held to the kiosk's), never a
      // remembered one. Audited as kiosk.approved (instance.ts).
      if (DEVICE_ROUTES.has(String(oidc.route)) && isKiosk(oidc.client)) {
        const grant = new oidc.provider.Grant({ clientId, accountId: oidc.session!.accountId });
        grant.addOIDCScope(String(oidc.params?.scope ?? 'openid'));
        await grant.save();
        return grant;
      }
      const grantId =
        oidc.result?.consent?.grantId ??
        oidc.session!.grantIdFor(clientId) ??
        (await rememberedGrantId(db, oidc.session!.accountId!, clientId));
      if (grantId) return oidc.provider.Grant.find(grantId);
      if (clientId !== PORTAL_CLIENT_ID) return undefined;
      const grant = new oidc.provider.Grant({ clientId: PORTAL_CLIENT_ID, accountId: oidc.session!.accountId });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
    jwks: { keys: signingKeys },
    cookies: {
      keys: cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax', secure },
      short: { signed: true, httpOnly: true, sameSite: 'lax', secure },
    },

    async findAccount(ctx, sub, token) {
      const citizen = await citizens.current(sub);
      if (!citizen || citizen.status !== 'active') return undefined;
      const profile = {
        sub: citizen.id,
        name: citizen.name,
        birthdate: citizen.birthdate,
        gender: citizen.gender,
        updated_at: Math.floor(citizen.updated_at.getTime() / 1000),
        email: citizen.email,
        email_verified: citizen.email_verified,
        ...(citizen.phone && { phone_number: citizen.phone, phone_number_verified: citizen.phone_verified }),
        ...(citizen.address && { address: citizen.address }),
      };
      // Every account has a NIK (it is read, below, only when the nik scope asks for it).
      expectRelease(ctx, citizen.id, token, new Set([...Object.keys(profile), ...SCOPE_CLAIMS.nik]));
      return {
        accountId: citizen.id,
        async claims(_use, scope) {
          const nik = scope.split(' ').includes('nik') ? await citizens.nikOf(citizen.id) : undefined;
          return { ...profile, ...(nik && { nik, nik_verified: citizen.assurance === 'verified' }) };
        },
      };
    },
    claims: SCOPE_CLAIMS,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'address', 'nik'],
    // Pairwise subjects per unit (pairwise.ts); each client's type is an administrator's setting
    // (clients.subject_type, given by findActiveMetadata with the client's unit as kediri_unit).
    // The sector is the unit, not oidc-provider's client.sectorIdentifier (the host of the first
    // redirect URI or of a sector_identifier_uri): two services of one unit on different hosts
    // share the sub, and a service that moves host keeps it. findActiveMetadata names the unit in
    // a sector_identifier_uri of its own (the provider wants one for several redirect hosts); that
    // URI is never fetched.
    subjectTypes: ['public', 'pairwise'],
    pairwiseIdentifier(_ctx, accountId, client) {
      const unit = client.kediri_unit;
      if (typeof unit !== 'string') throw new Error(`pairwise client ${client.clientId} has no unit`);
      return pairwiseSubject(sealer, unit, accountId);
    },
    sectorIdentifierUriValidate: () => false,
    extraClientMetadata: { properties: ['kediri_unit', 'kediri_kiosk'] },
    acrValues: ACR_VALUES,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: interactionPolicyWithAcr() },

    // Authorization code flow only, PKCE (S256) for every client, exact redirect URIs always sent.
    responseTypes: ['code'],
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // CORS only for public clients and userinfo, and only from the client's own redirect origins.
    clientBasedCORS(ctx, origin, client) {
      if (ctx.oidc.route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
      return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false;
    },

    // RFC 7591 registration is ours (src/web/dynamic-registration-routes.ts: clients start pending),
    // not the provider's features.registration.
    discovery: { registration_endpoint: `${config.issuer}/reg` },
    ttl: {
      ...TTL,
      AccessToken: resourceAware(kioskAware('AccessToken')),
      ClientCredentials: resourceAware(() => TTL.ClientCredentials),
      IdToken: kioskAware('IdToken'),
      Grant: kioskAware('Grant'),
    },
    // Rotated on every use, with reuse detection; except for high-assurance (FAPI 2.0) clients,
    // whose refresh tokens are bound to their private_key_jwt and DPoP keys, and which FAPI 2.0
    // asks not to rotate.
    rotateRefreshToken: (ctx) => !ctx.oidc.client?.requirePushedAuthorizationRequests,

    features: {
      // The signing keys are ExternalSigningKeys that follow the rotation schedule (key-rotation.ts).
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // A client may look into and revoke its own tokens only.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId) throw new errors.InvalidRequest('this token does not belong to the client');
          return true;
        },
      },
      userinfo: { enabled: true },
      // RFC 8628 for the kiosks at the MPP: only clients with the device_code grant type, which
      // findActiveMetadata gives the clients an administrator marked as kiosks (others get
      // unauthorized_client). Codes of 8 letters from 20 consonants (no vowels: no words, no 0/O
      // or 1/I), shown as BCDF-GHJK; typed with or without the dash, in any case. Our pages,
      // with the provider's own xsrf token (web/provider-pages.ts); tried codes are limited per
      // address (web/app.ts). The kiosk's address and user agent are not kept (deviceInfo).
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        deviceInfo: () => ({}),
        async userCodeInputSource(ctx, form, _out, err) {
          const problem = err ? DEVICE_PROBLEMS[err.name] ?? 'failed' : undefined;
          const userCode = (err as { userCode?: unknown } | undefined)?.userCode;
          await pages.deviceCodeInput(ctx, {
            action: ctx.oidc.urlFor('code_verification'),
            xsrf: xsrfOf(form),
            ...(typeof userCode === 'string' && { userCode }),
            ...(problem && { problem }),
          });
        },
        async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
          const scope = ctx.oidc.deviceCode?.params?.scope;
          await pages.deviceCodeConfirm(ctx, {
            action: ctx.oidc.urlFor('code_verification'),
            xsrf: xsrfOf(form),
            userCode,
            clientId: client.clientId,
            scopes: String(scope ?? 'openid').split(' ').filter(Boolean),
          });
        },
        successSource: (ctx) => pages.deviceCodeSuccess(ctx, ctx.oidc.client!.clientId),
      },
      // Sent by the provider at /session/end, recorded and retried by the logout outbox (logout.ts).
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource,
        postLogoutSuccessSource: pages.postLogoutSuccessSource,
      },
      // High-assurance clients (FAPI 2.0) must push their authorization requests and bind their
      // tokens with DPoP: both per client, set by findActiveMetadata (clients.ts). Any client may
      // use either voluntarily.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // Every DPoP proof carries a server-provided nonce (RFC 9449 §8): its freshness is then the
      // server's clock, not the client's iat: no proof can be made before its nonce is handed out.
      // Nonces are derived from the shared secret, so any process checks another's. FAPI 2.0
      // clients must support them (openid-client retries once on use_dpop_nonce).
      dPoP: { enabled: true, nonceSecret: dpopNonceSecret, requireNonce: () => true },
      // The provider's FAPI 2.0 checks, for high-assurance clients only (e.g. a client assertion's
      // aud must be exactly the issuer); the clients findActiveMetadata marks so are those with both
      // per-client requirements above.
      fapi: {
        enabled: true,
        profile: (_ctx, client) => (client?.requirePushedAuthorizationRequests && client.dpopBoundAccessTokens ? '2.0' : undefined),
      },
      // An MPP counter asks the citizen in front of it to confirm on their own phone (OpenID
      // Connect CIBA, poll mode), for the clients an administrator enabled (ciba.ts, clients.ts).
      ciba: cibaFeature({ db, citizens, notices, audit }),
      // Access tokens for a unit's API as JWTs (RFC 8707, RFC 9068): resource-indicators.ts.
      resourceIndicators: resourceIndicatorsFeature(resourceServers),
    },
    formats: { customizers: { jwt: authenticationClaims } },

    // Protocol errors shown to a person, in our pages (web/provider-pages.ts).
    renderError: pages.renderError,
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  // The storage's writes still pending when a request ends are sent before it answers (request-state.ts).
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      // Sent all the same (an interaction's end), without hiding the request's own error.
      await finishRequest(ctx, false, db).catch(() => {});
      throw error;
    }
    // A token response that failed is answered, not thrown: it released nothing.
    await finishRequest(ctx, ctx.status < 400, db);
  });
  provider.use(cibaUnauthorizedClient);
  provider.use(unauthorizedForTheDeviceFlow);
  return provider;
}

export type { KoaContextWithOIDC };
