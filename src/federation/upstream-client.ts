import { createRemoteJWKSet, importJWK, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { isLoopback, type Upstream, type UpstreamCredentials } from './upstreams.js';

/** What an upstream said about the person who signed in there, its claims read through the upstream's claim map. */
export interface UpstreamIdentity {
  /** The upstream's `sub`: the link's key. */
  subject: string;
  /** The claim that carries the NIK, as the upstream sent it (our NIK rules check it later). */
  nik: string | undefined;
  name: string | undefined;
  birthdate: string | undefined;
  email: string | undefined;
  phone: string | undefined;
  /** The acr the upstream proved. */
  acr: string | undefined;
  /** The upstream session's id (for its back-channel logout), when it sent one. */
  sid: string | undefined;
  /** The person signed in at the upstream for this very request (prompt=login, max_age=0, auth_time checked), not by its session. */
  reauthenticated: boolean;
}

/**
 * Why a trip to an upstream failed: it could not be reached, it did not answer in time, it
 * answered with an error (the person refused, or the upstream refused us), or what it answered
 * failed validation (signature, issuer, audience, nonce, expiry, ...).
 */
export type UpstreamFailure = 'unreachable' | 'timeout' | 'refused' | 'invalid_response';

export class UpstreamError extends Error {
  constructor(readonly reason: UpstreamFailure, detail: string) {
    super(detail);
  }
}

/** The checks of one authorization request, kept (sealed) until the upstream sends the browser back. */
export interface UpstreamChecks {
  codeVerifier: string;
  state: string;
  nonce: string;
  /** The upstream was asked to sign the person in again, not to answer from its session. */
  reauthenticate: boolean;
}

/** A logout token that passed validation: whose upstream session ended. */
export interface UpstreamLogout {
  subject: string | undefined;
  sid: string | undefined;
  jti: string;
  /** Epoch seconds: until when the token could be replayed (its jti is kept that long). */
  expiresAt: number;
}

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Asymmetric signatures only: a logout token is signed with the upstream's published keys (never none, never a shared secret). */
const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** How long a discovered configuration is used before the upstream is asked again. */
const DISCOVERY_TTL_MS = 10 * 60 * 1000;

/**
 * The errors an error was caused by, itself first (openid-client wraps fetch()'s in a ClientError),
 * as name and message: read by shape, since an error may come from another realm than our classes'.
 */
function causes(error: unknown): Array<{ name?: unknown; message?: unknown }> {
  const chain: Array<{ name?: unknown; message?: unknown; cause?: unknown }> = [];
  for (let e = error; typeof e === 'object' && e !== null && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** The error's reason, by what failed: the connection, the clock, or what the upstream said. */
function classify(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const chain = causes(error);
  const message = String(chain[0]?.message ?? error);
  if (chain.some((e) => e.name === 'TimeoutError' || e.name === 'AbortError')) return new UpstreamError('timeout', message);
  if (error instanceof oidc.AuthorizationResponseError || error instanceof oidc.ResponseBodyError) return new UpstreamError('refused', message);
  // fetch() failing to connect (refused, reset, DNS) is a TypeError whose cause says why.
  if (chain.some((e) => e.name === 'TypeError' && e.message === 'fetch failed')) return new UpstreamError('unreachable', message);
  return new UpstreamError('invalid_response', message);
}

/** A string claim, or undefined for anything else (a number as the NIK is read as its digits). */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() || undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/**
 * Kediri ID as a relying party of the upstreams, through openid-client: PKCE (S256), state and
 * nonce on every request; the ID token's signature checked (enableNonRepudiationChecks: openid-client
 * otherwise trusts the TLS channel), with its issuer, audience, expiry and nonce; every request to
 * an upstream limited to `timeoutSeconds`. Plain http is allowed only to an upstream on this machine.
 */
export function createUpstreamClient({ timeoutSeconds, redirectUri }: { timeoutSeconds: number; redirectUri: (slug: string) => string }) {
  const configurations = new Map<string, { at: number; updatedAt: number; config: oidc.Configuration }>();
  const keySets = new Map<string, { uri: string; keys: ReturnType<typeof createRemoteJWKSet> }>();

  async function clientAuthentication(credentials: UpstreamCredentials): Promise<oidc.ClientAuth> {
    if (credentials.method === 'private_key_jwt') {
      const key = await importJWK(credentials.privateJwk, 'ES256');
      return oidc.PrivateKeyJwt({ key: key as CryptoKey, kid: credentials.privateJwk.kid });
    }
    return credentials.method === 'client_secret_post' ? oidc.ClientSecretPost(credentials.secret) : oidc.ClientSecretBasic(credentials.secret);
  }

  /** The upstream's configuration, discovered (again after DISCOVERY_TTL_MS, or when its settings changed). */
  async function configuration(upstream: Upstream, credentials: UpstreamCredentials): Promise<oidc.Configuration> {
    const cached = configurations.get(upstream.slug);
    const updatedAt = upstream.updatedAt.getTime();
    if (cached && cached.updatedAt === updatedAt && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.config;
    const issuer = new URL(upstream.issuer);
    const insecure = issuer.protocol === 'http:' && isLoopback(issuer.hostname);
    const config = await oidc.discovery(
      issuer,
      upstream.clientId,
      { redirect_uris: [redirectUri(upstream.slug)] },
      await clientAuthentication(credentials),
      { timeout: timeoutSeconds, execute: insecure ? [oidc.allowInsecureRequests] : [] },
    ).catch((error: unknown) => {
      throw classify(error);
    });
    config.timeout = timeoutSeconds;
    oidc.enableNonRepudiationChecks(config);
    configurations.set(upstream.slug, { at: Date.now(), updatedAt, config });
    return config;
  }

  return {
    /**
     * The upstream's authorization URL for a new request, with the checks to keep until it
     * answers. With `reauthenticate` (our own interaction asks for a fresh login) the upstream must
     * sign the person in again (prompt=login, max_age=0), not answer from its session.
     */
    async start(upstream: Upstream, credentials: UpstreamCredentials, { reauthenticate }: { reauthenticate: boolean }): Promise<{ url: string; checks: UpstreamChecks }> {
      const config = await configuration(upstream, credentials);
      const checks = { codeVerifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce(), reauthenticate };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri(upstream.slug),
        scope: upstream.scopes,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
        state: checks.state,
        nonce: checks.nonce,
        ...(upstream.verifiedAcr.length > 0 && { acr_values: [...upstream.mfaAcr, ...upstream.verifiedAcr].join(' ') }),
        ...(reauthenticate && { prompt: 'login', max_age: '0' }),
      });
      return { url: url.toString(), checks };
    },

    /**
     * The upstream's answer at our redirect URI (`currentUrl`, with code and state, or an error):
     * the code exchanged and the ID token validated, then its claims (and the userinfo's, when the
     * NIK is not in the ID token) read through the upstream's claim map.
     */
    async finish(upstream: Upstream, credentials: UpstreamCredentials, currentUrl: URL, checks: UpstreamChecks): Promise<UpstreamIdentity> {
      try {
        const config = await configuration(upstream, credentials);
        const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
          // auth_time must then be now (within openid-client's clock tolerance): a login, not a session.
          ...(checks.reauthenticate && { maxAge: 0 }),
        });
        const idToken = tokens.claims()!;
        let claims: Record<string, unknown> = idToken;
        if (idToken[upstream.nikClaim] === undefined && config.serverMetadata().userinfo_endpoint) {
          const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
          claims = { ...userinfo, ...idToken };
        }
        const map = upstream.claimMap;
        return {
          subject: idToken.sub,
          nik: text(claims[upstream.nikClaim]),
          name: text(claims[map.name]),
          birthdate: text(claims[map.birthdate]),
          email: text(claims[map.email]),
          phone: text(claims[map.phone]),
          acr: text(idToken.acr),
          sid: text(idToken.sid),
          reauthenticated: checks.reauthenticate,
        };
      } catch (error) {
        throw classify(error);
      }
    },

    /**
     * A back-channel logout token from the upstream (OpenID Connect Back-Channel Logout 1.0 §2.6):
     * signed by the upstream's keys, for us (aud), recent, with the logout event, a jti, a sub or
     * a sid, and no nonce. Throws an UpstreamError for anything else.
     */
    async verifyLogoutToken(upstream: Upstream, credentials: UpstreamCredentials, token: string): Promise<UpstreamLogout> {
      let payload: JWTPayload;
      try {
        const metadata = (await configuration(upstream, credentials)).serverMetadata();
        if (!metadata.jwks_uri) throw new UpstreamError('invalid_response', 'the upstream publishes no jwks_uri');
        let keySet = keySets.get(upstream.slug);
        if (keySet?.uri !== metadata.jwks_uri) {
          keySet = { uri: metadata.jwks_uri, keys: createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: timeoutSeconds * 1000 }) };
          keySets.set(upstream.slug, keySet);
        }
        let header;
        ({ payload, protectedHeader: header } = await jwtVerify(token, keySet.keys, {
          issuer: metadata.issuer,
          audience: upstream.clientId,
          algorithms: SIGNING_ALGORITHMS,
          maxTokenAge: '10 minutes',
          clockTolerance: 30,
          requiredClaims: ['iat', 'jti'],
        }));
        // §2.4: typ logout+jwt is recommended; a token typed as anything else (an ID token) is not a logout token.
        if (header.typ !== undefined && header.typ.toLowerCase().replace(/^application\//, '') !== 'logout+jwt') {
          throw new UpstreamError('invalid_response', 'the token is not typed as a logout token');
        }
      } catch (error) {
        throw classify(error);
      }
      const events = payload.events as Record<string, unknown> | undefined;
      const event = events?.[BACKCHANNEL_LOGOUT_EVENT];
      if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new UpstreamError('invalid_response', 'no back-channel logout event');
      if (payload.nonce !== undefined) throw new UpstreamError('invalid_response', 'a logout token carries no nonce');
      const subject = text(payload.sub);
      const sid = text(payload.sid);
      if (!subject && !sid) throw new UpstreamError('invalid_response', 'a logout token names a sub or a sid');
      return { subject, sid, jti: String(payload.jti), expiresAt: payload.exp ?? payload.iat! + 10 * 60 };
    },
  };
}

export type UpstreamClient = ReturnType<typeof createUpstreamClient>;
