import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { ResourceServers } from '../clients/resource-servers.js';

/*
 * Access tokens for the units' APIs (RFC 8707 resource indicators): a client that names a
 * registered resource server in `resource`, and is on its list, gets a JWT access token (RFC 9068)
 * for that API alone: aud the indicator, the scopes the API accepts, the API's short lifetime,
 * signed with our ES256 key. The API checks it against the JWKS without calling Kediri ID, and
 * nothing is stored (oidc-provider writes no row for a token in the JWT format). Without
 * `resource` nothing changes: the access token is opaque, for userinfo (and introspection).
 */

type ResourceIndicatorsFeature = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;
type JwtCustomizer = NonNullable<NonNullable<NonNullable<Configuration['formats']>['customizers']>['jwt']>;

/** ES256: cheaper to sign than RS256, and published in the JWKS beside it (keys.ts). */
export const RESOURCE_TOKEN_ALG = 'ES256';

/** features.resourceIndicators of the provider's configuration. */
export function resourceIndicatorsFeature(resourceServers: ResourceServers): ResourceIndicatorsFeature {
  return {
    enabled: true,
    // One answer for an API nobody registered and one the client is not allowed: a client learns
    // nothing of the APIs it may not use.
    async getResourceServerInfo(_ctx, indicator, client) {
      const server = await resourceServers.findByIndicator(indicator);
      if (!server?.clientIds.includes(client.clientId)) throw new errors.InvalidTarget();
      return {
        audience: server.indicator,
        scope: server.scopes.join(' '),
        accessTokenFormat: 'jwt',
        accessTokenTTL: server.accessTokenTtl,
        jwt: { sign: { alg: RESOURCE_TOKEN_ALG } },
      };
    },
  };
}

/** The lifetime of a token for a resource server, where the token is one (undefined otherwise). */
export function resourceTokenTtl(token: unknown): number | undefined {
  return (token as { resourceServer?: { accessTokenTTL?: number } } | undefined)?.resourceServer?.accessTokenTTL;
}

/**
 * formats.customizers.jwt: a citizen's token also says how they signed in (RFC 9068 §2.2.1), for
 * an API that needs a verified identity: acr and auth_time of the login that the code, refresh
 * token, device code or counter's request came from. The claims oidc-provider puts in are iss,
 * sub (the pairwise or public subject the client sees), aud, exp, iat, jti, client_id, scope and,
 * for a sender-constrained token, cnf; never the citizen's profile (no NIK, no name).
 */
export const authenticationClaims: JwtCustomizer = (ctx: KoaContextWithOIDC, token, { payload }) => {
  if (!('accountId' in token) || !token.accountId) return;
  const { AuthorizationCode, RefreshToken, DeviceCode, BackchannelAuthenticationRequest } = ctx.oidc.entities;
  const source = AuthorizationCode ?? RefreshToken ?? DeviceCode ?? BackchannelAuthenticationRequest;
  if (source?.acr) payload.acr = source.acr;
  if (source?.authTime) payload.auth_time = source.authTime;
};
