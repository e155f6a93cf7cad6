import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import type { Sealer } from '../secrets.js';
import { createClientCache, forgetClient } from './client-cache.js';
import { uriProblem } from './registration.js';

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'phone', 'address', 'nik'] as const;
export type ClientStatus = 'pending' | 'active' | 'rejected' | 'suspended';

export interface NewClient {
  unit: string;
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri?: string;
  jwksUri?: string;
  scope: string;
  authMethod: (typeof AUTH_METHODS)[number];
  grantTypes: (typeof GRANT_TYPES)[number][];
  /** An administrator allows this client the nik scope. */
  allowNik?: boolean;
}

const SECRET = 'client-secret';

/**
 * The FAPI 2.0 security profile of a high-assurance client, as provider metadata: pushed
 * authorization requests, DPoP-bound access tokens, ID tokens signed with ES256 (FAPI 2.0 allows
 * PS256, ES256 or EdDSA, not RS256). PKCE S256 and the 60-second code hold for every client.
 */
const HIGH_ASSURANCE: AdapterPayload = {
  require_pushed_authorization_requests: true,
  dpop_bound_access_tokens: true,
  id_token_signed_response_alg: 'ES256',
};

type SubjectType = 'pairwise' | 'public';

export interface ClientDescription {
  name: string;
  unitName: string;
  unitSlug: string;
  /** The logo is served at /unit/<unitSlug>/logo. */
  unitHasLogo: boolean;
  policyUri?: string;
}

/**
 * How the provider identifies accounts to a client (provider.ts pairwiseIdentifier): the client's
 * unit, and the subject type an administrator set. A pairwise client's sector is its unit, named
 * in a sector_identifier_uri of our own under the reserved .invalid domain (RFC 6761): oidc-provider
 * then accepts several redirect hosts, and never fetches it (sectorIdentifierUriValidate).
 */
function subjectMetadata(unit: string, subjectType: SubjectType): AdapterPayload {
  return {
    kediri_unit: unit,
    subject_type: subjectType,
    ...(subjectType === 'pairwise' && { sector_identifier_uri: `https://${unit}.unit.kediri-id.invalid/` }),
  };
}
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An absolute https URL without fragment; plain http only for loopback (local development). */
function checkUri(value: string, code: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(code, field, `not an absolute URL: ${value}`);
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  if (!secure || url.hash || url.username || url.password) {
    throw new InputError(code, field, `must be https (http only for localhost), without fragment or credentials: ${value}`);
  }
  return value;
}

export function createClientStore(db: Db, sealer: Sealer, audit: Audit) {
  /** The provider's view of a client: active ones only, secret decrypted. */
  async function loadActiveMetadata(clientId: string): Promise<AdapterPayload | undefined> {
    const { rows } = await db.query<{
      metadata: AdapterPayload;
      client_secret_enc: string | null;
      allow_nik: boolean;
      high_assurance: boolean;
      unit_slug: string;
      subject_type: SubjectType;
    }>(
      `select metadata, client_secret_enc, allow_nik, high_assurance, unit_slug, subject_type
       from clients where client_id = $1 and status = 'active'`,
      [clientId],
    );
    const row = rows[0];
    if (!row) return undefined;
    // High assurance means private_key_jwt (the admin page insists): a client that is not is not
    // served at all, rather than served below its profile.
    if (row.high_assurance && row.metadata.token_endpoint_auth_method !== 'private_key_jwt') return undefined;
    const secret = row.client_secret_enc ? { client_secret: sealer.open(SECRET, row.client_secret_enc) } : {};
    // The administrator's flag decides: without it the nik scope is not the client's to ask for.
    const scope = String(row.metadata.scope).split(' ').filter((s) => s !== 'nik' || row.allow_nik).join(' ');
    return {
      ...row.metadata,
      scope,
      client_id: clientId,
      ...secret,
      ...(row.high_assurance && HIGH_ASSURANCE),
      ...subjectMetadata(row.unit_slug, row.subject_type),
    };
  }
  const cache = createClientCache(loadActiveMetadata);

  return {
    /** The provider's view of a client (active ones only, secret decrypted), from memory when it can. */
    findActiveMetadata: cache.find,

    /** Keeps the clients in memory from now on, forgetting each as it changes (see client-cache.ts). */
    followChanges: () => cache.follow(db),

    /** What a citizen sees of a client: its name, its unit (name, slug, whether it has a logo) and its privacy policy. */
    async describe(clientId: string): Promise<ClientDescription | undefined> {
      const { rows } = await db.query<ClientDescription & { policyUri: string | null }>(
        `select c.name, u.name as "unitName", u.slug as "unitSlug", u.logo is not null as "unitHasLogo",
           c.metadata->>'policy_uri' as "policyUri"
         from clients c join units u on u.slug = c.unit_slug where c.client_id = $1`,
        [clientId],
      );
      const row = rows[0];
      if (!row) return undefined;
      // Registration lets only https (or loopback http) in; checked again since it becomes a link.
      const { policyUri, ...rest } = row;
      return { ...rest, ...(policyUri && !uriProblem(policyUri) && { policyUri }) };
    },

    /** Creates an active client (operator CLI); returns the id and, when it has one, the secret. */
    async createActive(input: NewClient, actor: string): Promise<{ client_id: string; client_secret?: string }> {
      const name = input.name.trim();
      if (name.length < 2 || name.length > 100) throw new InputError('client_name_invalid', 'name', '2 to 100 characters');
      const grantTypes = [...new Set(input.grantTypes)];
      const interactive = grantTypes.includes('authorization_code');
      if (interactive && input.redirectUris.length === 0) {
        throw new InputError('redirect_uri_required', 'redirect-uri', 'at least one is needed for authorization_code');
      }
      if (grantTypes.includes('client_credentials') && input.authMethod === 'none') {
        throw new InputError('auth_method_invalid', 'auth-method', 'client_credentials needs client authentication');
      }
      if (input.authMethod === 'private_key_jwt' && !input.jwksUri) {
        throw new InputError('jwks_uri_required', 'jwks-uri', 'private_key_jwt needs the client\'s JWKS URI');
      }
      const scopes = input.scope.split(/\s+/).filter(Boolean);
      const unknown = scopes.find((s) => !(SCOPES as readonly string[]).includes(s));
      if (unknown) throw new InputError('scope_invalid', 'scope', `unknown scope ${unknown} (known: ${SCOPES.join(' ')})`);
      if (scopes.includes('nik') !== Boolean(input.allowNik)) {
        throw new InputError('nik_scope_not_allowed', 'scope', 'the nik scope and --allow-nik go together (the NIK goes only to clients allowed it)');
      }

      const metadata = {
        client_name: name,
        application_type: input.authMethod === 'none' ? 'native' : 'web',
        redirect_uris: input.redirectUris.map((u) => checkUri(u, 'redirect_uri_invalid', 'redirect-uri')),
        post_logout_redirect_uris: input.postLogoutRedirectUris.map((u) =>
          checkUri(u, 'redirect_uri_invalid', 'post-logout-redirect-uri'),
        ),
        ...(input.backchannelLogoutUri && {
          backchannel_logout_uri: checkUri(input.backchannelLogoutUri, 'redirect_uri_invalid', 'backchannel-logout-uri'),
          backchannel_logout_session_required: true,
        }),
        ...(input.jwksUri && { jwks_uri: checkUri(input.jwksUri, 'redirect_uri_invalid', 'jwks-uri') }),
        scope: scopes.join(' '),
        token_endpoint_auth_method: input.authMethod,
        grant_types: grantTypes,
        response_types: interactive ? ['code'] : [],
      };
      const secret = input.authMethod.startsWith('client_secret') ? randomBytes(32).toString('base64url') : undefined;
      const clientId = `${input.unit}-${randomBytes(9).toString('base64url')}`;

      await db.transaction(async (tx) => {
        const unit = await tx.query('select 1 from units where slug = $1', [input.unit]);
        if (unit.rowCount === 0) throw new InputError('unit_unknown', 'unit', `no unit with slug ${input.unit}`);
        await tx.query(
          `insert into clients (client_id, unit_slug, name, status, metadata, client_secret_enc, allow_nik)
           values ($1, $2, $3, 'active', $4, $5, $6)`,
          [clientId, input.unit, name, metadata, secret ? sealer.seal(SECRET, secret) : null, Boolean(input.allowNik)],
        );
        await audit({ type: 'client.created', actor, clientId, details: { unit: input.unit, status: 'active' } }, tx);
      });
      return { client_id: clientId, ...(secret && { client_secret: secret }) };
    },

    async setStatus(clientId: string, status: ClientStatus, actor: string): Promise<void> {
      await db.transaction(async (tx) => {
        const result = await tx.query('update clients set status = $2, updated_at = now() where client_id = $1', [clientId, status]);
        forgetClient(clientId);
        if (result.rowCount === 0) throw new InputError('client_unknown', 'client', `no client ${clientId}`);
        await audit({ type: 'client.status_changed', actor, clientId, details: { status } }, tx);
      });
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
