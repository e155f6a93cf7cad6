import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import { newSecret, type Sealer } from '../secrets.js';
import { createClientCache, forgetClient } from './client-cache.js';
import {
  ADMINISTRATOR_METHODS, checkRegistration, metadataOf, providerMetadata, requestedScope, uriProblem, usesSecret, type RegistrationForm,
} from './registration.js';

export const AUTH_METHODS = [...ADMINISTRATOR_METHODS, 'none'] as const;
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type ClientStatus = 'pending' | 'active' | 'rejected' | 'suspended';

/**
 * A client as the operator asks for it (`kediri-id client create`, and the tests' fixture): the
 * protocol's terms (grant types, auth method, a scope string) rather than the portal's form. It is
 * read onto the registration form (administratorForm) and checked by checkRegistration like every
 * other registration, as an administrator's.
 */
export interface NewClient {
  unit: string;
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri?: string;
  frontchannelLogoutUri?: string;
  initiateLoginUri?: string;
  /** A private_key_jwt client's public keys: a JWKS as JSON text, or at a URI. */
  jwks?: string;
  jwksUri?: string;
  policyUri?: string;
  contact?: string;
  /** Space-separated; openid is implied for the interactive clients. */
  scope: string;
  authMethod: (typeof AUTH_METHODS)[number];
  grantTypes: (typeof GRANT_TYPES)[number][];
  /** An administrator allows this client the nik scope (and the nik scope needs it). */
  allowNik?: boolean;
}

/**
 * The registration form an operator's client fills, its type read from the grant types as dynamic
 * registration reads it: authorization_code makes an interactive client (native with auth method
 * none, else web, which may also use client_credentials); client_credentials alone, a service.
 * refresh_token comes with the offline_access scope (metadataOf), so it may be named only with it.
 * Throws an InputError ('grant_types') for a combination that describes no client type.
 */
function administratorForm(input: NewClient): RegistrationForm {
  const grants = new Set(input.grantTypes);
  const scopes = input.scope.split(/\s+/).filter((s) => s && s !== 'openid');
  const interactive = grants.has('authorization_code');
  if (!interactive && !(grants.size === 1 && grants.has('client_credentials'))) throw new InputError('grant_types_invalid', 'grant_types');
  if (grants.has('refresh_token') && !scopes.includes('offline_access')) throw new InputError('refresh_token_needs_offline_access', 'grant_types');
  return {
    name: input.name,
    type: !interactive ? 'service' : input.authMethod === 'none' ? 'native' : 'web',
    redirect_uris: input.redirectUris.join(' '),
    post_logout_redirect_uris: input.postLogoutRedirectUris.join(' '),
    backchannel_logout_uri: input.backchannelLogoutUri ?? '',
    frontchannel_logout_uri: input.frontchannelLogoutUri ?? '',
    initiate_login_uri: input.initiateLoginUri ?? '',
    scopes,
    reason_nik: '',
    reason_address: '',
    auth_method: input.authMethod,
    client_credentials: interactive && grants.has('client_credentials') ? 'on' : '',
    jwks: input.jwks ?? '',
    jwks_uri: input.jwksUri ?? '',
    logo_uri: '',
    policy_uri: input.policyUri ?? '',
    contact: input.contact ?? '',
  };
}

const SECRET = 'client-secret';

/** A new client's id: its unit's slug and 12 random characters. */
export const newClientId = (unit: string) => `${unit}-${randomBytes(9).toString('base64url')}`;

/** A client of a unit, as the developer portal and the review list it. */
export interface UnitClient {
  clientId: string;
  name: string;
  unit: string;
  unitName: string;
  status: ClientStatus;
  /** A secret not yet shown to the unit's developers (shown once). */
  secretWaiting: boolean;
  updatedAt: Date;
}

/** What an administrator decides for a client beyond its registration. */
export interface ClientProfile {
  subjectType: 'pairwise' | 'public';
  highAssurance: boolean;
  /** Whether it authenticates with private_key_jwt (high assurance needs it). */
  privateKeyJwt: boolean;
  /** Whether it may ask a citizen to confirm on their own phone (CIBA, src/oidc/ciba.ts). */
  ciba: boolean;
  /** Whether it authenticates to the token endpoint at all (auth method other than none). */
  confidential: boolean;
  /** Whether its keys are at a jwks_uri (a kiosk with pairwise subjects needs it, and private_key_jwt). */
  jwksUri: boolean;
  /** A kiosk at the MPP: the device authorization grant, short-lived tokens, no refresh token (KIOSK below). */
  kiosk: boolean;
}

/** The grant type of client-initiated backchannel authentication (OpenID Connect CIBA). */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/**
 * Whether a client may use CIBA: it must authenticate, and a pairwise one with private_key_jwt
 * (oidc-provider refuses the metadata of a pairwise CIBA client that uses a shared secret).
 */
export const cibaPossible = (profile: Pick<ClientProfile, 'subjectType' | 'privateKeyJwt' | 'confidential'>) =>
  profile.confidential && (profile.privateKeyJwt || profile.subjectType === 'public');

/** What an administrator sets of a profile (the rest follows from the registration). */
export type ProfileSettings = Omit<ClientProfile, 'privateKeyJwt' | 'confidential' | 'jwksUri'>;

/** A stored client as its own management reads it (dynamic registration, the review), its secret opened. */
export interface StoredClient {
  clientId: string;
  unit: string;
  status: ClientStatus;
  metadata: Record<string, unknown>;
  secret: string | undefined;
  createdAt: Date;
}

/** A row to insert: the one way a client comes to exist (the CLI, an approved request, dynamic registration). */
export interface ClientRow {
  clientId: string;
  unit: string;
  name: string;
  status: 'active' | 'pending';
  metadata: Record<string, unknown>;
  secret?: string;
  allowNik?: boolean;
  /** The secret is handed over with the creation (dynamic registration), not shown later in the portal. */
  secretShown?: boolean;
  /** The keyed hash of a dynamically registered client's registration access token. */
  registrationTokenHash?: string;
}

const UNIT_CLIENT_COLUMNS = `c.client_id as "clientId", c.name, c.unit_slug as unit, u.name as "unitName", c.status,
  (c.client_secret_enc is not null and c.secret_shown_at is null) as "secretWaiting", c.updated_at as "updatedAt"`;
const PROFILE_COLUMNS = `subject_type as "subjectType", high_assurance as "highAssurance", ciba, kiosk,
  metadata->>'token_endpoint_auth_method' = 'private_key_jwt' as "privateKeyJwt",
  coalesce(metadata->>'token_endpoint_auth_method', '') <> 'none' as confidential, metadata ? 'jwks_uri' as "jwksUri"`;

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

/** The grant type of RFC 8628 (the device authorization grant), for kiosks only. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * What a kiosk may do, over its registration: the device authorization grant (any other client
 * asking for it gets unauthorized_client), and no refresh token: neither the grant type nor the
 * offline_access scope, whatever it registered. kediri_kiosk tells the provider to give its
 * tokens the kiosk's short lifetimes (provider.ts) and to take the confirmation on the user-code
 * page as the citizen's consent.
 */
function kioskMetadata(metadata: AdapterPayload, scope: string): AdapterPayload {
  const grants = (metadata.grant_types ?? ['authorization_code']).filter((grant) => grant !== 'refresh_token');
  return {
    grant_types: [...grants, DEVICE_CODE_GRANT],
    scope: scope.split(' ').filter((s) => s !== 'offline_access').join(' '),
    kediri_kiosk: true,
  };
}

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
/*
 * This module owns the clients table: every statement on it is here. Reads that need no key are
 * plain functions of a Queryable (other modules run them inside their own transactions, or with
 * no services at hand); what seals, opens or audits is on the store. Every write forgets the
 * cached client itself (client-cache.ts), so no caller has to.
 */

/** How many clients exist (a restored backup's summary). */
export async function countClients(on: Queryable): Promise<number> {
  const { rows } = await on.query<{ n: number }>('select count(*)::int as n from clients');
  return rows[0]!.n;
}

/** The name, unit and status of each of these clients that exists (gone ones are left out). */
export async function clientLabels(on: Queryable, clientIds: string[]): Promise<Map<string, { name: string; unit: string; unitName: string; status: ClientStatus }>> {
  const { rows } = await on.query<{ client_id: string; name: string; unit: string; unit_name: string; status: ClientStatus }>(
    `select c.client_id, c.name, c.unit_slug as unit, u.name as unit_name, c.status
     from clients c join units u on u.slug = c.unit_slug where c.client_id = any($1)`,
    [clientIds],
  );
  return new Map(rows.map((r) => [r.client_id, { name: r.name, unit: r.unit, unitName: r.unit_name, status: r.status }]));
}

/** The unit, name and status of each of these clients that exists (the service catalogue's online entries). */
export async function clientStates(on: Queryable, clientIds: string[]): Promise<Map<string, { unit: string; name: string; status: ClientStatus }>> {
  const { rows } = await on.query<{ client_id: string; unit: string; name: string; status: ClientStatus }>(
    'select client_id, unit_slug as unit, name, status from clients where client_id = any($1)',
    [clientIds],
  );
  return new Map(rows.map((r) => [r.client_id, { unit: r.unit, name: r.name, status: r.status }]));
}

/** The back-channel logout URI of each of these clients that is active and registered one. */
export async function backchannelLogoutUris(on: Queryable, clientIds: string[]): Promise<Map<string, string>> {
  const { rows } = await on.query<{ client_id: string; uri: string }>(
    `select client_id, metadata->>'backchannel_logout_uri' as uri
     from clients where client_id = any($1) and status = 'active' and metadata->>'backchannel_logout_uri' is not null`,
    [clientIds],
  );
  return new Map(rows.map((r) => [r.client_id, r.uri]));
}

/** The front-channel logout URI of each of these clients that is active and registered one, and whether it wants iss and sid. */
export async function frontchannelLogoutUris(on: Queryable, clientIds: string[]) {
  const { rows } = await on.query<{ client_id: string; uri: string; with_session: boolean }>(
    `select client_id, metadata->>'frontchannel_logout_uri' as uri,
       coalesce(metadata->>'frontchannel_logout_session_required', '') = 'true' as with_session
     from clients where client_id = any($1) and status = 'active' and metadata->>'frontchannel_logout_uri' is not null`,
    [clientIds],
  );
  return rows.map((r) => ({ clientId: r.client_id, uri: r.uri, withSession: r.with_session }));
}

/** Where a citizen opening an active client from Kediri ID goes (initiate-login-routes.ts); undefined for any other client. */
export interface SignInEntry {
  /** Its third-party initiated login endpoint (OpenID Connect Core §4), when it registered one. */
  initiateLoginUri?: string;
  redirectUris: string[];
}

/** The sign-in entry of an active client (see SignInEntry); undefined when there is no such active client. */
export async function signInEntry(on: Queryable, clientId: string): Promise<SignInEntry | undefined> {
  const { rows } = await on.query<{ initiate_login_uri: string | null; redirect_uris: unknown }>(
    `select metadata->>'initiate_login_uri' as initiate_login_uri, metadata->'redirect_uris' as redirect_uris
     from clients where client_id = $1 and status = 'active'`,
    [clientId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const redirectUris = Array.isArray(row.redirect_uris) ? row.redirect_uris.map(String) : [];
  return { ...(row.initiate_login_uri && { initiateLoginUri: row.initiate_login_uri }), redirectUris };
}

/** How many clients each unit has (units with none are absent). */
export async function clientCountsByUnit(on: Queryable): Promise<Map<string, number>> {
  const { rows } = await on.query<{ unit: string; n: number }>('select unit_slug as unit, count(*)::int as n from clients group by unit_slug');
  return new Map(rows.map((r) => [r.unit, r.n]));
}

export function createClientStore(db: Db, sealer: Sealer, audit: Audit) {
  /** The provider's view of a client: active ones only, secret decrypted. */
  async function loadActiveMetadata(clientId: string): Promise<AdapterPayload | undefined> {
    const { rows } = await db.query<{
      metadata: AdapterPayload;
      client_secret_enc: string | null;
      allow_nik: boolean;
      high_assurance: boolean;
      ciba: boolean;
      kiosk: boolean;
      unit_slug: string;
      subject_type: SubjectType;
    }>(
      `select metadata, client_secret_enc, allow_nik, high_assurance, ciba, kiosk, unit_slug, subject_type
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
    const scope = String(row.metadata.scope ?? '').split(' ').filter((s) => s && (s !== 'nik' || row.allow_nik)).join(' ');
    const { scope: _asked, ...metadata } = providerMetadata(row.metadata);
    const authMethod = metadata.token_endpoint_auth_method;
    // CIBA in poll mode, for a client an administrator enabled (and only while its registration
    // still allows it: a later change of auth method turns it off rather than breaking the client).
    const ciba = row.ciba && cibaPossible({ subjectType: row.subject_type, privateKeyJwt: authMethod === 'private_key_jwt', confidential: authMethod !== 'none' });
    const withCiba: AdapterPayload = {
      ...metadata,
      ...(ciba && {
        grant_types: [...(Array.isArray(metadata.grant_types) ? metadata.grant_types : []), CIBA_GRANT],
        backchannel_token_delivery_mode: 'poll',
      }),
    };
    return {
      ...withCiba,
      // The scope is the list of what the client may ask for, and oidc-provider holds a client to it
      // only when it is there (and refuses an empty one): a client with none may ask for openid alone.
      scope: scope || 'openid',
      client_id: clientId,
      ...secret,
      ...(row.high_assurance && HIGH_ASSURANCE),
      ...(row.kiosk && kioskMetadata(withCiba, scope || 'openid')),
      ...subjectMetadata(row.unit_slug, row.subject_type),
    };
  }
  async function loadDescription(clientId: string): Promise<ClientDescription | undefined> {
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
  }
  const cache = createClientCache();
  const activeMetadata = cache.view(loadActiveMetadata);
  const description = cache.view(loadDescription);

  /** Runs a write and forgets the client in this process's caches, whatever the write did. */
  async function writing<T>(clientId: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      forgetClient(clientId);
    }
  }

  /** Inserts a client; the secret, if any, is sealed. */
  async function insert(tx: Queryable, row: ClientRow): Promise<void> {
    await writing(row.clientId, () => tx.query(
      `insert into clients (client_id, unit_slug, name, status, metadata, client_secret_enc, allow_nik, secret_shown_at, registration_token_hash)
       values ($1, $2, $3, $4, $5, $6, $7, case when $8::boolean then now() end, $9)`,
      [row.clientId, row.unit, row.name, row.status, row.metadata, row.secret ? sealer.seal(SECRET, row.secret) : null,
        Boolean(row.allowNik), Boolean(row.secretShown), row.registrationTokenHash ?? null],
    ));
  }

  /** Sets a client's status; false when there is no such client. */
  async function writeStatus(tx: Queryable, clientId: string, status: ClientStatus): Promise<boolean> {
    const result = await writing(clientId, () => tx.query('update clients set status = $2, updated_at = now() where client_id = $1', [clientId, status]));
    return result.rowCount === 1;
  }

  return {
    /** The provider's view of a client (active ones only, secret decrypted), from memory when it can. */
    findActiveMetadata: activeMetadata,

    /** Keeps the clients in memory from now on, forgetting each as it changes (see client-cache.ts). */
    followChanges: () => cache.follow(db),

    insert,
    writeStatus,

    /** What a citizen sees of a client: its name, its unit (name, slug, whether it has a logo) and its privacy policy. */
    /** How pages name a client: its name, its unit's name and logo, its policy; from memory when it can. */
    describe: description,

    /** Whether any client exists. */
    async any(): Promise<boolean> {
      return (await db.query('select 1 from clients limit 1')).rowCount > 0;
    },

    /** A client with its secret opened. */
    async find(on: Queryable, clientId: string): Promise<StoredClient | undefined> {
      const { rows } = await on.query<Omit<StoredClient, 'secret'> & { secretEnc: string | null }>(
        `select client_id as "clientId", unit_slug as unit, status, metadata, client_secret_enc as "secretEnc", created_at as "createdAt"
         from clients where client_id = $1`,
        [clientId],
      );
      const row = rows[0];
      if (!row) return undefined;
      const { secretEnc, ...client } = row;
      return { ...client, secret: secretEnc ? sealer.open(SECRET, secretEnc) : undefined };
    },

    /**
     * Replaces the client's registration access token (its keyed hash) when `presented` is the
     * current one, in one statement: of concurrent uses of one token, one wins. Whether it was.
     */
    async replaceRegistrationToken(on: Queryable, clientId: string, presented: string, next: string): Promise<boolean> {
      const { rowCount } = await on.query(
        'update clients set registration_token_hash = $3 where client_id = $1 and registration_token_hash = $2',
        [clientId, presented, next],
      );
      return rowCount === 1;
    },

    /** The clients of these units (all units when undefined), by unit and name. */
    async list(units?: string[]): Promise<UnitClient[]> {
      const { rows } = await db.query<UnitClient>(
        `select ${UNIT_CLIENT_COLUMNS} from clients c join units u on u.slug = c.unit_slug
         where $1::text[] is null or c.unit_slug = any($1) order by u.name, c.name`,
        [units ?? null],
      );
      return rows;
    },

    /**
     * Every client that was ever approved (active or suspended), by unit and name, with the scopes
     * it may ask a citizen for: its registered ones, the nik scope only while an administrator
     * allows it (as findActiveMetadata gives the provider).
     */
    async approvedScopes(): Promise<Array<UnitClient & { scopes: string[]; allowNik: boolean }>> {
      const { rows } = await db.query<UnitClient & { scope: string | null; allowNik: boolean }>(
        `select ${UNIT_CLIENT_COLUMNS}, c.metadata->>'scope' as scope, c.allow_nik as "allowNik"
         from clients c join units u on u.slug = c.unit_slug
         where c.status in ('active', 'suspended') order by u.name, c.name`,
      );
      return rows.map(({ scope, ...client }) => ({
        ...client,
        scopes: (scope ?? '').split(' ').filter((s) => s && (s !== 'nik' || client.allowNik)),
      }));
    },

    async unitClient(clientId: string): Promise<UnitClient | undefined> {
      const { rows } = await db.query<UnitClient>(
        `select ${UNIT_CLIENT_COLUMNS} from clients c join units u on u.slug = c.unit_slug where c.client_id = $1`,
        [clientId],
      );
      return rows[0];
    },

    /**
     * Gives an existing client an approved registration: its name, metadata and whether it may have
     * the nik scope. A client that needs a secret keeps its own, or gets one (shown once); others
     * hold none. Returns the metadata it had before.
     */
    async applyRegistration(tx: Queryable, clientId: string, next: { name: string; metadata: Record<string, unknown>; allowNik: boolean; withSecret: boolean }) {
      const { rows } = await tx.query<{ metadata: Record<string, unknown>; client_secret_enc: string | null }>(
        'select metadata, client_secret_enc from clients where client_id = $1 for update',
        [clientId],
      );
      const secretEnc = next.withSecret ? rows[0]?.client_secret_enc ?? sealer.seal(SECRET, newSecret()) : null;
      await writing(clientId, () => tx.query(
        `update clients set name = $2, metadata = $3, allow_nik = $4, client_secret_enc = $5,
           secret_shown_at = case when $5::text is distinct from client_secret_enc then null else secret_shown_at end,
           status = case when status = 'pending' then 'active' else status end, updated_at = now()
         where client_id = $1`,
        [clientId, next.name, next.metadata, next.allowNik, secretEnc],
      ));
      return rows[0]?.metadata;
    },

    /** A pending client whose request was rejected becomes rejected. */
    async rejectPending(tx: Queryable, clientId: string): Promise<void> {
      await writing(clientId, () => tx.query("update clients set status = 'rejected', updated_at = now() where client_id = $1 and status = 'pending'", [clientId]));
    },

    /** A client's status, locked for the caller's transaction. */
    async lockStatus(tx: Queryable, clientId: string): Promise<ClientStatus | undefined> {
      const { rows } = await tx.query<{ status: ClientStatus }>('select status from clients where client_id = $1 for update', [clientId]);
      return rows[0]?.status;
    },

    /** The settings an administrator decides for a client; with `lock`, locked for the caller's transaction. */
    async profile(on: Queryable, clientId: string, lock = false): Promise<ClientProfile | undefined> {
      const { rows } = await on.query<ClientProfile>(`select ${PROFILE_COLUMNS} from clients where client_id = $1${lock ? ' for update' : ''}`, [clientId]);
      return rows[0];
    },

    async writeProfile(tx: Queryable, clientId: string, next: ProfileSettings): Promise<void> {
      await writing(clientId, () => tx.query(
        'update clients set subject_type = $2, high_assurance = $3, ciba = $4, kiosk = $5, updated_at = now() where client_id = $1',
        [clientId, next.subjectType, next.highAssurance, next.ciba, next.kiosk],
      ));
    },

    /** The secret not yet shown to the client's developers, marked shown; undefined when there is none waiting. */
    async takeSecretToShow(tx: Queryable, clientId: string): Promise<string | undefined> {
      const { rows } = await writing(clientId, () => tx.query<{ client_secret_enc: string }>(
        `update clients set secret_shown_at = now() where client_id = $1 and client_secret_enc is not null and secret_shown_at is null
         returning client_secret_enc`,
        [clientId],
      ));
      return rows[0] && sealer.open(SECRET, rows[0].client_secret_enc);
    },

    /** Replaces a private_key_jwt client's keys (its jwks_uri goes); false for any other client. */
    async replaceJwks(tx: Queryable, clientId: string, jwks: unknown): Promise<boolean> {
      const { rowCount } = await writing(clientId, () => tx.query(
        `update clients set metadata = (metadata - 'jwks_uri') || jsonb_build_object('jwks', $2::jsonb), updated_at = now()
         where client_id = $1 and metadata->>'token_endpoint_auth_method' = 'private_key_jwt'`,
        [clientId, JSON.stringify(jwks)],
      ));
      return rowCount === 1;
    },

    /** A new secret (returned, and counted as shown) for an approved client that has one; undefined for any other. */
    async replaceSecret(tx: Queryable, clientId: string): Promise<string | undefined> {
      const secret = newSecret();
      const { rowCount } = await writing(clientId, () => tx.query(
        `update clients set client_secret_enc = $2, secret_shown_at = now(), updated_at = now()
         where client_id = $1 and client_secret_enc is not null and status in ('active', 'suspended')`,
        [clientId, sealer.seal(SECRET, secret)],
      ));
      return rowCount === 1 ? secret : undefined;
    },

    async delete(tx: Queryable, clientId: string): Promise<void> {
      await writing(clientId, () => tx.query('delete from clients where client_id = $1', [clientId]));
    },

    /**
     * Creates an active client (operator CLI) with the scopes it asks for: checked by
     * checkRegistration as an administrator's registration, made into metadata by metadataOf like
     * an approved request. The nik scope needs allowNik, and allowNik the nik scope. Throws the
     * first problem as an InputError naming its field of the registration form (RegistrationForm),
     * or 'grant_types'; returns the id and, when it has one, the secret.
     */
    async createActive(input: NewClient, actor: string): Promise<{ client_id: string; client_secret?: string }> {
      const checked = checkRegistration(administratorForm(input), 'administrator');
      if (!checked.ok) throw checked.problems[0]!;
      const registration = checked.registration;
      if (registration.scopes.includes('nik') !== Boolean(input.allowNik)) throw new InputError('nik_scope_not_allowed', 'scopes');
      const metadata = metadataOf(registration, requestedScope(registration));
      const secret = usesSecret(registration) ? newSecret() : undefined;
      const clientId = newClientId(input.unit);

      await db.transaction(async (tx) => {
        const unit = await tx.query('select 1 from units where slug = $1', [input.unit]);
        if (unit.rowCount === 0) throw new InputError('unit_unknown', 'unit', `no unit with slug ${input.unit}`);
        await insert(tx, { clientId, unit: input.unit, name: registration.name, status: 'active', metadata, secret, allowNik: input.allowNik });
        await audit({ type: 'client.created', actor, clientId, details: { unit: input.unit, status: 'active' } }, tx);
      });
      return { client_id: clientId, ...(secret && { client_secret: secret }) };
    },

    async setStatus(clientId: string, status: ClientStatus, actor: string): Promise<void> {
      await db.transaction(async (tx) => {
        if (!(await writeStatus(tx, clientId, status))) throw new InputError('client_unknown', 'client', `no client ${clientId}`);
        await audit({ type: 'client.status_changed', actor, clientId, details: { status } }, tx);
      });
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
