import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import { newSecret, type Sealer } from '../secrets.js';
import type { CitizenStore } from '../identity/citizens.js';
import { newClientId, type ClientStore, type StoredClient } from './clients.js';
import type { ClientRequests } from './requests.js';
import {
  REQUESTABLE_SCOPES,
  checkRegistration,
  metadataOf,
  providerMetadata,
  requestedScope,
  usesSecret,
  type ClientRegistration,
  type ClientType,
} from './registration.js';
import { isUuid } from '../ids.js';

/** Hashing purposes of the tokens. */
const INITIAL_TOKEN = 'initial-access-token';
const REGISTRATION_TOKEN = 'registration-access-token';
export const USES_MAX = 100;
export const HOURS_MAX = 720;
/** The actor of the audit entries that a registrant (not a person signed in) causes. */
const ACTOR = 'dynamic-registration';

/** An RFC 7591/7592 error response: HTTP status, error code, and a description for the developer. */
export class RegistrationError extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}

const invalidToken = () => new RegistrationError(401, 'invalid_token', 'the access token is missing, unknown, expired, revoked or used up');
const invalidMetadata = (description: string) => new RegistrationError(400, 'invalid_client_metadata', description);
const invalidRequest = (description: string) => new RegistrationError(400, 'invalid_request', description);

/** Checks client metadata as oidc-provider would load it (provider.Client.validate). */
export type ValidateMetadata = (metadata: Record<string, unknown>) => Promise<void>;

export interface AccessToken {
  id: string;
  unit: string;
  unitName: string;
  usesLeft: number;
  expiresAt: Date;
  createdAt: Date;
  createdByName: string | null;
  state: 'active' | 'used_up' | 'expired' | 'revoked';
}

/** The RFC 7591 client metadata a registrant may send; other members are ignored (RFC 7591 §2). */
const uriList = z.array(z.string().max(500).regex(/^\S+$/, 'a URI without whitespace')).max(10);
const metadataBody = z.object({
  client_name: z.string().max(200),
  redirect_uris: uriList.default([]),
  post_logout_redirect_uris: uriList.default([]),
  grant_types: z.array(z.string().max(40)).max(5).default(['authorization_code']),
  response_types: z.array(z.string().max(40)).max(5).optional(),
  token_endpoint_auth_method: z.string().max(40).default('client_secret_basic'),
  application_type: z.enum(['web', 'native']).default('web'),
  scope: z.string().max(500).default(''),
  jwks: z.record(z.string(), z.unknown()).optional(),
  jwks_uri: z.string().max(500).optional(),
  logo_uri: z.string().max(500).optional(),
  policy_uri: z.string().max(500).optional(),
  backchannel_logout_uri: z.string().max(500).optional(),
  frontchannel_logout_uri: z.string().max(500).optional(),
  initiate_login_uri: z.string().max(500).optional(),
  contacts: z.array(z.string().max(254)).max(5).default([]),
  /** Our extension: why the service needs each sensitive scope it asks for. */
  kediri_scope_reasons: z.object({ nik: z.string().max(1000).optional(), address: z.string().max(1000).optional() }).optional(),
});
type MetadataBody = z.infer<typeof metadataBody>;

/** The metadata member each field of the portal's form comes from, and its problems in words. */
const MEMBER: Record<string, string> = {
  name: 'client_name',
  scopes: 'scope',
  reason_nik: 'kediri_scope_reasons.nik',
  reason_address: 'kediri_scope_reasons.address',
  auth_method: 'token_endpoint_auth_method',
  contact: 'contacts',
};
const PROBLEM: Record<string, string> = {
  client_name_invalid: '2 to 100 characters are needed',
  redirect_uri_required: 'at least one is needed',
  too_many_uris: 'at most 10 are allowed',
  uri_invalid: 'must be an absolute URL without fragment, credentials or wildcard',
  uri_not_https: 'must be https (http only on the loopback)',
  scope_invalid: `unknown scope (requestable: openid ${REQUESTABLE_SCOPES.join(' ')})`,
  scope_reason_required: 'this sensitive scope needs a reason of at least 20 characters',
  auth_method_invalid: 'must be client_secret_basic or private_key_jwt (none for browser and native apps)',
  jwks_invalid: 'must be a JWKS of 1 to 10 public keys',
  jwks_required: 'private_key_jwt needs jwks or jwks_uri',
  policy_uri_required: 'is required',
  email_invalid: 'the first contact must be an email address',
};

/** The client type that the grant types, auth method and application type describe together. */
function clientTypeOf(m: MetadataBody, scopes: string[]): ClientType {
  const grants = new Set(m.grant_types);
  const service = grants.has('client_credentials');
  const known = service ? grants.size === 1 : grants.has('authorization_code') && [...grants].every((g) => g === 'authorization_code' || g === 'refresh_token');
  if (!known) throw invalidMetadata('grant_types: must be ["authorization_code"], with "refresh_token" for offline_access, or ["client_credentials"]');
  if (grants.has('refresh_token') && !scopes.includes('offline_access')) throw invalidMetadata('grant_types: refresh_token needs the offline_access scope');
  if ((m.response_types ?? (service ? [] : ['code'])).join(' ') !== (service ? '' : 'code')) {
    throw invalidMetadata('response_types: must be ["code"] (none for client_credentials)');
  }
  if (service) return 'service';
  if (m.token_endpoint_auth_method === 'none') return m.application_type === 'native' ? 'native' : 'spa';
  return 'web';
}

/**
 * The registration an RFC 7591 metadata document asks for, checked as the developer portal checks
 * its form (src/clients/registration.ts), so that both ways in accept the same clients.
 */
function registrationFromMetadata(body: unknown): ClientRegistration {
  const parsed = metadataBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidMetadata(`${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const m = parsed.data;
  const scopes = m.scope.split(' ').filter((s) => s && s !== 'openid');
  const type = clientTypeOf(m, scopes);
  const checked = checkRegistration({
    name: m.client_name,
    type,
    redirect_uris: m.redirect_uris.join(' '),
    post_logout_redirect_uris: m.post_logout_redirect_uris.join(' '),
    backchannel_logout_uri: m.backchannel_logout_uri ?? '',
    frontchannel_logout_uri: m.frontchannel_logout_uri ?? '',
    initiate_login_uri: m.initiate_login_uri ?? '',
    scopes,
    reason_nik: m.kediri_scope_reasons?.nik ?? '',
    reason_address: m.kediri_scope_reasons?.address ?? '',
    auth_method: m.token_endpoint_auth_method,
    jwks: m.jwks ? JSON.stringify(m.jwks) : '',
    jwks_uri: m.jwks_uri ?? '',
    logo_uri: m.logo_uri ?? '',
    policy_uri: m.policy_uri ?? '',
    contact: m.contacts[0] ?? '',
    client_credentials: '',
  });
  if (checked.ok) return checked.registration;
  const description = checked.problems.map((p) => `${MEMBER[p.field!] ?? p.field}: ${PROBLEM[p.code] ?? p.code}`).join('; ');
  const redirect = checked.problems.some((p) => p.field === 'redirect_uris');
  throw new RegistrationError(400, redirect ? 'invalid_redirect_uri' : 'invalid_client_metadata', description);
}

/** The provider's own check of the metadata; its refusals become RFC 7591 errors. */
async function providerCheck(validate: ValidateMetadata, metadata: Record<string, unknown>): Promise<void> {
  try {
    await validate(providerMetadata(metadata));
  } catch (error) {
    const { error: code, error_description: description } = error as { error?: unknown; error_description?: unknown };
    if (code !== 'invalid_client_metadata' && code !== 'invalid_redirect_uri') throw error;
    throw new RegistrationError(400, code, String(description));
  }
}

/** Deletes what the provider stored for a client (grants, tokens, sessions' traces), in the caller's transaction; returns how many. */
export type RevokeClientPayloads = (tx: Queryable, clientId: string) => Promise<number>;

type RegisteredClient = StoredClient & { requestPending: boolean };
/** Members a client must not send in an update (RFC 7592 §2.2): the server sets them. */
const SERVER_MEMBERS = ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at'];

const sameSecret = (a: string, b: string) =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/**
 * RFC 7591 dynamic client registration and RFC 7592 management (README.md "Onboarding a unit's service").
 * An administrator issues initial access tokens for a unit (a number of uses, an expiry; only
 * their keyed hash is stored). A registration spends one use and creates a client of that unit
 * in status 'pending' with a pending request for the review queue: the provider serves it only
 * once an administrator approves the request. Its registration access token (keyed hash in
 * clients.registration_token_hash) reads it, asks for changes (each a new pending request; the
 * live client keeps its approved metadata meanwhile) and deletes it.
 */
export function createDynamicRegistration(
  db: Db,
  sealer: Sealer,
  audit: Audit,
  deps: { clients: ClientStore; citizens: CitizenStore; clientRequests: ClientRequests; revokeClientPayloads: RevokeClientPayloads },
  issuer: string,
) {
  const { clients, citizens, clientRequests, revokeClientPayloads } = deps;

  /**
   * The client information response (RFC 7591 §3.2.1), with its status in our extension members.
   * The secret goes out once, in the registration response (`secret`): a registration access token
   * that leaks later does not hand out the current secret (RFC 7592 lets a read leave it out).
   */
  function information(client: RegisteredClient, secret?: string): Record<string, unknown> {
    return {
      ...client.metadata,
      client_id: client.clientId,
      client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
      ...(secret && { client_secret: secret }),
      ...(client.secret && { client_secret_expires_at: 0 }),
      registration_client_uri: `${issuer}/reg/${encodeURIComponent(client.clientId)}`,
      kediri_status: client.status,
      kediri_request_pending: client.requestPending,
    };
  }

  /** The client with whether a request for it waits for review. */
  async function registered(on: Queryable, client: StoredClient): Promise<RegisteredClient> {
    return { ...client, requestPending: await clientRequests.hasPendingRequest(on, client.clientId) };
  }

  /**
   * The client this registration access token manages, or a 401, locked for the caller's
   * transaction. To read or update, the token is spent: its successor replaces it in that
   * transaction and goes out in the response (RFC 7592 §3 lets the server rotate it on any use); a
   * request that fails later rolls the rotation back with the rest, and the token stays the client's.
   */
  async function authenticated(tx: Queryable, clientId: string, token: string, ip: string, { rotate }: { rotate: boolean }) {
    if (!token) throw invalidToken();
    const nextToken = rotate ? newSecret() : token;
    const hash = (t: string) => sealer.keyedHash(REGISTRATION_TOKEN, t);
    if (!(await clients.replaceRegistrationToken(tx, clientId, hash(token), hash(nextToken)))) throw invalidToken();
    const client = await registered(tx, (await clients.find(tx, clientId))!);
    if (rotate) await audit({ type: 'client.registration_token_rotated', actor: ACTOR, clientId, ip }, tx);
    return { client, nextToken };
  }

  /** The metadata the provider would load for this registration, checked by the provider itself. */
  async function checkedMetadata(registration: ClientRegistration, clientId: string, secret: string | undefined, validate: ValidateMetadata) {
    const metadata = metadataOf(registration, requestedScope(registration));
    await providerCheck(validate, { ...metadata, client_id: clientId, ...(secret && { client_secret: secret }) });
    return metadata;
  }

  return {
    /** A new initial access token for a unit; the token is returned once, only its keyed hash kept. */
    async issueAccessToken(input: { unit: string; uses: number; expiresInHours: number }, adminId: string, ip: string) {
      if (!Number.isInteger(input.uses) || input.uses < 1 || input.uses > USES_MAX) throw new InputError('uses_invalid', 'uses');
      const hours = input.expiresInHours;
      if (!Number.isInteger(hours) || hours < 1 || hours > HOURS_MAX) throw new InputError('hours_invalid', 'hours');
      const id = randomUUID();
      const token = newSecret();
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ expires_at: Date }>(
          `insert into initial_access_tokens (id, token_hash, unit_slug, uses_left, expires_at, created_by)
           select $1, $2, slug, $3, now() + make_interval(hours => $4::int), $5 from units where slug = $6
           returning expires_at`,
          [id, sealer.keyedHash(INITIAL_TOKEN, token), input.uses, hours, adminId, input.unit],
        );
        if (!rows[0]) throw new InputError('unit_unknown', 'unit');
        await audit({ type: 'initial_access_token.issued', actor: adminId, ip, details: { token: id, unit: input.unit, uses: input.uses, expiresAt: rows[0].expires_at } }, tx);
        return { id, token, expiresAt: rows[0].expires_at };
      });
    },

    /** Deletes at most `limit` initial access tokens that expired a month ago (the retention job); returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        `delete from initial_access_tokens where ctid = any(array(
           select ctid from initial_access_tokens where expires_at < now() - interval '30 days' limit $1))`,
        [limit],
      );
      return rowCount;
    },

    /** Every token, newest first, with its state (never the token itself). */
    async listAccessTokens(): Promise<AccessToken[]> {
      const { rows } = await db.query<Omit<AccessToken, 'createdByName'> & { createdBy: string | null }>(
        `select t.id, t.unit_slug as unit, u.name as "unitName", t.uses_left as "usesLeft", t.expires_at as "expiresAt",
           t.created_at as "createdAt", t.created_by as "createdBy",
           case when t.revoked_at is not null then 'revoked' when t.expires_at <= now() then 'expired'
                when t.uses_left = 0 then 'used_up' else 'active' end as state
         from initial_access_tokens t join units u on u.slug = t.unit_slug
         order by t.created_at desc limit 200`,
      );
      const creators = await citizens.findByIds([...new Set(rows.flatMap((r) => (r.createdBy ? [r.createdBy] : [])))]);
      const names = new Map(creators.map((c) => [c.id, c.name]));
      return rows.map(({ createdBy, ...token }) => ({ ...token, createdByName: (createdBy && names.get(createdBy)) ?? null }));
    },

    async revokeAccessToken(id: string, adminId: string, ip: string): Promise<void> {
      if (!isUuid(id)) throw new InputError('access_token_unknown');
      await db.transaction(async (tx) => {
        const { rowCount } = await tx.query('update initial_access_tokens set revoked_at = now() where id = $1 and revoked_at is null', [id]);
        if (rowCount !== 1) throw new InputError('access_token_unknown');
        await audit({ type: 'initial_access_token.revoked', actor: adminId, ip, details: { token: id } }, tx);
      });
    },

    /**
     * Registers a client with an initial access token (RFC 7591 §3). The token's use is taken by
     * one atomic update, in the transaction that creates the client: of concurrent registrations
     * no more succeed than it has uses, and a refused registration gives its use back.
     */
    async register(token: string, body: unknown, ip: string, validate: ValidateMetadata) {
      if (!token) throw invalidToken();
      return db.transaction(async (tx) => {
        const { rows: claimed } = await tx.query<{ id: string; unit: string }>(
          `update initial_access_tokens set uses_left = uses_left - 1
           where token_hash = $1 and uses_left > 0 and revoked_at is null and expires_at > now()
           returning id, unit_slug as unit`,
          [sealer.keyedHash(INITIAL_TOKEN, token)],
        );
        const accessToken = claimed[0];
        if (!accessToken) throw invalidToken();
        const registration = registrationFromMetadata(body);
        const clientId = newClientId(accessToken.unit);
        const secret = usesSecret(registration) ? newSecret() : undefined;
        const metadata = await checkedMetadata(registration, clientId, secret, validate);
        const registrationToken = newSecret();
        // The secret goes to the registrant in this response: the portal does not show it again.
        await clients.insert(tx, {
          clientId, unit: accessToken.unit, name: registration.name, status: 'pending', metadata, secret, secretShown: true,
          registrationTokenHash: sealer.keyedHash(REGISTRATION_TOKEN, registrationToken),
        });
        const request = await clientRequests.submit({ unit: accessToken.unit, registration, submittedBy: null, clientId, source: 'dynamic' }, tx);
        await audit({ type: 'client.registered_dynamically', actor: ACTOR, clientId, ip, details: { unit: accessToken.unit, accessToken: accessToken.id, request } }, tx);
        const client = await registered(tx, (await clients.find(tx, clientId))!);
        return { ...information(client, secret), registration_access_token: registrationToken };
      });
    },

    /** RFC 7592 §2.1: the client as it is now, with the registration access token to use next. */
    async read(clientId: string, token: string, ip: string) {
      return db.transaction(async (tx) => {
        const { client, nextToken } = await authenticated(tx, clientId, token, ip, { rotate: true });
        return { ...information(client), registration_access_token: nextToken };
      });
    },

    /**
     * RFC 7592 §2.2: the whole metadata again, as a change request for review. The live client
     * keeps its approved metadata until an administrator approves the change; the response shows
     * the live client, with kediri_request_pending and the registration access token to use next.
     */
    async update(clientId: string, token: string, body: unknown, ip: string, validate: ValidateMetadata) {
      return db.transaction(async (tx) => {
        const { client, nextToken } = await authenticated(tx, clientId, token, ip, { rotate: true });
        const sent = (body ?? {}) as Record<string, unknown>;
        const serverMember = SERVER_MEMBERS.find((m) => Object.hasOwn(sent, m));
        if (serverMember) throw invalidRequest(`${serverMember} must not be sent`);
        if (sent.client_id !== clientId) throw invalidRequest('client_id does not match the client');
        const liveSecret = client.secret;
        if (Object.hasOwn(sent, 'client_secret') && !sameSecret(String(sent.client_secret), liveSecret ?? '')) {
          throw invalidRequest('client_secret does not match the client');
        }
        // A rejected client stays rejected (approval would not activate it): register a new one.
        if (client.status === 'rejected') throw invalidRequest('this client was rejected; register a new one');
        if (client.requestPending) throw invalidRequest('a request for this client is already waiting for review');
        const registration = registrationFromMetadata(body);
        // Approval keeps the live secret, or makes one (shown once in the developer portal) when the client had none.
        const secret = usesSecret(registration) ? liveSecret ?? newSecret() : undefined;
        const metadata = await checkedMetadata(registration, clientId, secret, validate);
        const request = await clientRequests.submit({ unit: client.unit, registration, submittedBy: null, clientId, source: 'dynamic' }, tx);
        await audit({ type: 'client.updated_dynamically', actor: ACTOR, clientId, ip, details: { request, before: client.metadata, after: metadata } }, tx);
        return { ...information({ ...client, requestPending: true }), registration_access_token: nextToken };
      });
    },

    /**
     * RFC 7592 §2.3: the client is deleted, not kept with a status: its id, secret and registration
     * access token stop working at once, and its tokens and grants go with it. Its requests go
     * too (on delete cascade); the audit log keeps what it was.
     */
    async remove(clientId: string, token: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { client } = await authenticated(tx, clientId, token, ip, { rotate: false });
        const revoked = await revokeClientPayloads(tx, clientId);
        await clients.delete(tx, clientId);
        await audit({ type: 'client.deleted_dynamically', actor: ACTOR, clientId, ip, details: { unit: client.unit, status: client.status, before: client.metadata, revoked } }, tx);
      });
    },
  };
}

export type DynamicRegistration = ReturnType<typeof createDynamicRegistration>;
