import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.js';

/**
 * A client registration as a unit developer asks for it (README.md "Onboarding a unit's service"), the
 * checks it must pass, and the oidc-provider client metadata it becomes on approval.
 */
export const CLIENT_TYPES = ['web', 'spa', 'native', 'service'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];
/** Scopes a client may ask for; openid is always included for the interactive types. */
export const REQUESTABLE_SCOPES = ['profile', 'email', 'phone', 'address', 'nik', 'offline_access'] as const;
/** Scopes that need a written reason and an administrator's explicit tick. */
export const SENSITIVE_SCOPES = ['nik', 'address'] as const;
export type SensitiveScope = (typeof SENSITIVE_SCOPES)[number];
/** How a developer's confidential client authenticates (the portal's choices, dynamic registration's too). */
export const CONFIDENTIAL_METHODS = ['client_secret_basic', 'private_key_jwt'] as const;
/** An administrator may also choose client_secret_post (see Requester). */
export const ADMINISTRATOR_METHODS = [...CONFIDENTIAL_METHODS, 'client_secret_post'] as const;
export type ConfidentialMethod = (typeof ADMINISTRATOR_METHODS)[number];

/**
 * Who asks for a registration; every way in checks it with checkRegistration, by the same rules.
 * - `developer`: a unit's developer, through the portal or dynamic registration; an administrator
 *   reviews the request and decides the sensitive scopes then.
 * - `administrator`: the operator creating an active client at once (`kediri-id client create`).
 *   Beyond a developer's request, an administrator may:
 *   - ask for sensitive scopes without a written reason (the administrator is the one who decides,
 *     as on approval; the nik scope still needs --allow-nik, see clients.ts createActive);
 *   - leave out the privacy policy and the contact (checked the same way when given);
 *   - choose client_secret_post;
 *   - let a web client also use client_credentials (tokens for itself, besides its users' logins).
 */
export type Requester = 'developer' | 'administrator';

export interface ClientRegistration {
  name: string;
  type: ClientType;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri?: string;
  /** For a service that only supports front-channel logout (an iframe on our logout page, best effort). */
  frontchannelLogoutUri?: string;
  /**
   * Where Kediri ID sends a citizen who opens the service from Kediri ID (OpenID Connect Core §4,
   * third-party initiated login): the service checks `iss` and starts a normal authorization request.
   */
  initiateLoginUri?: string;
  /** Without openid: the requestable scopes asked for. */
  scopes: string[];
  /** Why the service needs each sensitive scope it asks for. */
  scopeReasons: Partial<Record<SensitiveScope, string>>;
  authMethod: 'none' | ConfidentialMethod;
  /** A web client that also takes tokens for itself (client_credentials): an administrator's choice. */
  clientCredentials?: boolean;
  /** The public keys of a private_key_jwt client, uploaded (a JWKS) or at a URI. */
  jwks?: { keys: Record<string, unknown>[] };
  jwksUri?: string;
  logoUri?: string;
  /** Required of a developer; an administrator may leave it out. */
  policyUri?: string;
  /** Required of a developer; an administrator may leave it out. */
  contact?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** Members that make a JWK private: a JWKS for private_key_jwt must hold public keys only. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
const REASON_MIN = 20;

/**
 * An absolute URL that is https, or http on the loopback for development; no fragment, no
 * credentials, no wildcard. Returns the problem code, or undefined when it is fine.
 */
export function uriProblem(value: string): string | undefined {
  const url = URL.parse(value);
  if (!url || value.includes('*')) return 'uri_invalid';
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  if (!secure) return 'uri_not_https';
  if (url.hash || value.includes('#') || url.username || url.password) return 'uri_invalid';
  return undefined;
}

const uris = (text: string) => text.split(/\s+/).map((u) => u.trim()).filter(Boolean);

/** The registration form of the developer portal, as posted (every field a string). */
export const registrationForm = z.object({
  name: z.string().max(200).default(''),
  type: z.string().max(20).default(''),
  redirect_uris: z.string().max(4000).default(''),
  post_logout_redirect_uris: z.string().max(4000).default(''),
  backchannel_logout_uri: z.string().max(500).default(''),
  frontchannel_logout_uri: z.string().max(500).default(''),
  initiate_login_uri: z.string().max(500).default(''),
  scopes: z.union([z.string().max(40), z.array(z.string().max(40)).max(10)]).default([]),
  reason_nik: z.string().max(1000).default(''),
  reason_address: z.string().max(1000).default(''),
  auth_method: z.string().max(40).default(''),
  /** 'on' for a web client that also uses client_credentials (an administrator's choice, see Requester). */
  client_credentials: z.string().max(10).default(''),
  jwks: z.string().max(20_000).default(''),
  jwks_uri: z.string().max(500).default(''),
  logo_uri: z.string().max(500).default(''),
  policy_uri: z.string().max(500).default(''),
  contact: z.string().max(254).default(''),
});
export type RegistrationForm = z.infer<typeof registrationForm>;

/**
 * Checks a registration as its requester posted it: every problem as an InputError naming its form
 * field, or the registration. Mirrors what oidc-provider would refuse, in words a developer can act
 * on. The one check of every new or changed client: the developer portal, dynamic registration and
 * the operator CLI (see Requester for what an administrator may do beyond a developer).
 */
export function checkRegistration(form: RegistrationForm, by: Requester = 'developer'):
  | { ok: true; registration: ClientRegistration }
  | { ok: false; problems: InputError[] } {
  const problems: InputError[] = [];
  const administrator = by === 'administrator';
  const name = form.name.trim().replace(/\s+/g, ' ');
  if (name.length < 2 || name.length > 100) problems.push(new InputError('client_name_invalid', 'name'));
  const type = (CLIENT_TYPES as readonly string[]).includes(form.type) ? (form.type as ClientType) : undefined;
  if (!type) problems.push(new InputError('client_type_invalid', 'type'));
  const interactive = type !== 'service';

  const redirectUris = interactive ? uris(form.redirect_uris) : [];
  const postLogoutRedirectUris = interactive ? uris(form.post_logout_redirect_uris) : [];
  if (interactive && redirectUris.length === 0) problems.push(new InputError('redirect_uri_required', 'redirect_uris'));
  if (redirectUris.length > 10 || postLogoutRedirectUris.length > 10) problems.push(new InputError('too_many_uris', 'redirect_uris'));
  for (const [field, list] of [['redirect_uris', redirectUris], ['post_logout_redirect_uris', postLogoutRedirectUris]] as const) {
    const problem = list.map(uriProblem).find(Boolean);
    if (problem) problems.push(new InputError(problem, field));
  }
  const backchannelLogoutUri = interactive ? form.backchannel_logout_uri.trim() || undefined : undefined;
  if (backchannelLogoutUri && uriProblem(backchannelLogoutUri)) problems.push(new InputError(uriProblem(backchannelLogoutUri)!, 'backchannel_logout_uri'));
  const frontchannelLogoutUri = interactive ? form.frontchannel_logout_uri.trim() || undefined : undefined;
  if (frontchannelLogoutUri && uriProblem(frontchannelLogoutUri)) problems.push(new InputError(uriProblem(frontchannelLogoutUri)!, 'frontchannel_logout_uri'));
  const initiateLoginUri = interactive ? form.initiate_login_uri.trim() || undefined : undefined;
  if (initiateLoginUri && uriProblem(initiateLoginUri)) problems.push(new InputError(uriProblem(initiateLoginUri)!, 'initiate_login_uri'));

  const asked = [form.scopes].flat().filter(Boolean);
  const scopes = REQUESTABLE_SCOPES.filter((s) => asked.includes(s) && (interactive || s !== 'offline_access'));
  if (asked.some((s) => !(REQUESTABLE_SCOPES as readonly string[]).includes(s))) problems.push(new InputError('scope_invalid', 'scopes'));
  const scopeReasons: Partial<Record<SensitiveScope, string>> = {};
  for (const scope of SENSITIVE_SCOPES) {
    if (!scopes.includes(scope)) continue;
    const reason = (scope === 'nik' ? form.reason_nik : form.reason_address).trim();
    if (administrator && !reason) continue;
    if (reason.length < REASON_MIN) problems.push(new InputError('scope_reason_required', `reason_${scope}`));
    else scopeReasons[scope] = reason;
  }

  const methods: readonly string[] = administrator ? ADMINISTRATOR_METHODS : CONFIDENTIAL_METHODS;
  const authMethod = type === 'spa' || type === 'native'
    ? 'none'
    : methods.includes(form.auth_method)
      ? (form.auth_method as ConfidentialMethod)
      : undefined;
  if (!authMethod) problems.push(new InputError('auth_method_invalid', 'auth_method'));
  const clientCredentials = form.client_credentials === 'on';
  if (clientCredentials && !(administrator && type === 'web')) problems.push(new InputError('client_credentials_invalid', 'client_credentials'));
  let jwks: ClientRegistration['jwks'];
  const jwksUri = form.jwks_uri.trim() || undefined;
  if (authMethod === 'private_key_jwt') {
    if (form.jwks.trim()) {
      jwks = parseJwks(form.jwks);
      if (!jwks) problems.push(new InputError('jwks_invalid', 'jwks'));
    } else if (!jwksUri) {
      problems.push(new InputError('jwks_required', 'jwks'));
    }
    if (jwksUri && uriProblem(jwksUri)) problems.push(new InputError(uriProblem(jwksUri)!, 'jwks_uri'));
  }

  const logoUri = form.logo_uri.trim() || undefined;
  if (logoUri && uriProblem(logoUri)) problems.push(new InputError(uriProblem(logoUri)!, 'logo_uri'));
  const policyUri = form.policy_uri.trim() || undefined;
  if (!policyUri && !administrator) problems.push(new InputError('policy_uri_required', 'policy_uri'));
  else if (policyUri && uriProblem(policyUri)) problems.push(new InputError(uriProblem(policyUri)!, 'policy_uri'));
  const contact = form.contact.trim().toLowerCase() || undefined;
  if ((contact || !administrator) && !EMAIL.test(contact ?? '')) problems.push(new InputError('email_invalid', 'contact'));

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    registration: {
      name,
      type: type!,
      redirectUris,
      postLogoutRedirectUris,
      ...(backchannelLogoutUri && { backchannelLogoutUri }),
      ...(frontchannelLogoutUri && { frontchannelLogoutUri }),
      ...(initiateLoginUri && { initiateLoginUri }),
      scopes,
      scopeReasons,
      authMethod: authMethod!,
      ...(clientCredentials && { clientCredentials }),
      ...(authMethod === 'private_key_jwt' && (jwks ? { jwks } : { jwksUri })),
      ...(logoUri && { logoUri }),
      ...(policyUri && { policyUri }),
      ...(contact && { contact }),
    },
  };
}

/** A JWKS of 1 to 10 public keys (no private or symmetric members, whatever the key type), or undefined. */
export function checkJwks(value: unknown): ClientRegistration['jwks'] {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10) return undefined;
  const valid = keys.every((k) => k && typeof k === 'object' && PRIVATE_JWK_MEMBERS.every((m) => !(m in k)) && isPublicKey(k));
  return valid ? { keys: keys as Record<string, unknown>[] } : undefined;
}

/** Whether Node reads this JWK as a public key (a known key type and curve, members that fit). */
function isPublicKey(jwk: object): boolean {
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).type === 'public';
  } catch {
    return false;
  }
}

/** A JWKS as text (see checkJwks), or undefined. */
export function parseJwks(text: string): ClientRegistration['jwks'] {
  try {
    return checkJwks(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * The oidc-provider client metadata of a registration, with the scopes an administrator approved
 * (`scope`: space-separated, openid included for interactive clients).
 */
export function metadataOf(registration: ClientRegistration, scope: string): Record<string, unknown> {
  const interactive = registration.type !== 'service';
  return {
    client_name: registration.name,
    application_type: registration.type === 'native' ? 'native' : 'web',
    token_endpoint_auth_method: registration.authMethod,
    grant_types: interactive
      ? [
        'authorization_code',
        ...(scope.split(' ').includes('offline_access') ? ['refresh_token'] : []),
        ...(registration.clientCredentials ? ['client_credentials'] : []),
      ]
      : ['client_credentials'],
    response_types: interactive ? ['code'] : [],
    redirect_uris: registration.redirectUris,
    post_logout_redirect_uris: registration.postLogoutRedirectUris,
    ...(registration.backchannelLogoutUri && {
      backchannel_logout_uri: registration.backchannelLogoutUri,
      backchannel_logout_session_required: true,
    }),
    ...(registration.frontchannelLogoutUri && {
      frontchannel_logout_uri: registration.frontchannelLogoutUri,
      frontchannel_logout_session_required: true,
    }),
    ...(registration.initiateLoginUri && { initiate_login_uri: registration.initiateLoginUri }),
    // oidc-provider refuses an empty scope (a service client may ask for none).
    ...(scope && { scope }),
    ...(registration.jwks && { jwks: registration.jwks }),
    ...(registration.jwksUri && { jwks_uri: registration.jwksUri }),
    ...(registration.logoUri && { logo_uri: registration.logoUri }),
    ...(registration.policyUri && { policy_uri: registration.policyUri }),
    ...(registration.contact && { contacts: [registration.contact] }),
  };
}

/**
 * Client metadata as oidc-provider is to see it: without `initiate_login_uri`, which the provider
 * never uses (Kediri ID's own /layanan/masuk route does) and would hold to https only, refusing the
 * http loopback address that checkRegistration allows for development like every other URI. Our
 * check stays the one rule; the stored metadata keeps the member (RFC 7591 responses show it).
 */
export function providerMetadata<T extends Record<string, unknown>>(metadata: T): Omit<T, 'initiate_login_uri'> {
  const { initiate_login_uri: _ours, ...rest } = metadata;
  return rest;
}

/** Whether the client authenticates with a secret that we issue (client_secret_basic or _post). */
export const usesSecret = (registration: ClientRegistration) => registration.authMethod.startsWith('client_secret');

/** The scope a registration asks for, as the client would hold it (openid for interactive clients). */
export function requestedScope(registration: ClientRegistration): string {
  return [...(registration.type === 'service' ? [] : ['openid']), ...registration.scopes].join(' ');
}

/**
 * The registration a live client has, read back from its metadata (the scope reasons are kept
 * with the requests): what a change request is compared with, and what its form starts from.
 */
export function registrationOf(metadata: Record<string, unknown>): ClientRegistration {
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  const grantTypes = list(metadata.grant_types);
  const type: ClientType = grantTypes.includes('client_credentials') && !grantTypes.includes('authorization_code')
    ? 'service'
    : metadata.token_endpoint_auth_method === 'none'
      ? (metadata.application_type === 'native' ? 'native' : 'spa')
      : 'web';
  const method = String(metadata.token_endpoint_auth_method);
  return {
    name: String(metadata.client_name ?? ''),
    type,
    redirectUris: list(metadata.redirect_uris),
    postLogoutRedirectUris: list(metadata.post_logout_redirect_uris),
    ...(typeof metadata.backchannel_logout_uri === 'string' && { backchannelLogoutUri: metadata.backchannel_logout_uri }),
    ...(typeof metadata.frontchannel_logout_uri === 'string' && { frontchannelLogoutUri: metadata.frontchannel_logout_uri }),
    ...(typeof metadata.initiate_login_uri === 'string' && { initiateLoginUri: metadata.initiate_login_uri }),
    scopes: String(metadata.scope ?? '').split(' ').filter((s) => s && s !== 'openid'),
    scopeReasons: {},
    authMethod: (['none', ...ADMINISTRATOR_METHODS] as string[]).includes(method) ? (method as ClientRegistration['authMethod']) : 'client_secret_basic',
    ...(type === 'web' && grantTypes.includes('client_credentials') && { clientCredentials: true }),
    ...(metadata.jwks !== undefined && { jwks: metadata.jwks as ClientRegistration['jwks'] }),
    ...(typeof metadata.jwks_uri === 'string' && { jwksUri: metadata.jwks_uri }),
    ...(typeof metadata.logo_uri === 'string' && { logoUri: metadata.logo_uri }),
    ...(typeof metadata.policy_uri === 'string' && { policyUri: metadata.policy_uri }),
    ...(list(metadata.contacts)[0] && { contact: list(metadata.contacts)[0] }),
  };
}

/** The form fields of a registration, to fill the form again (a change starts from the live client). */
export function formOf(registration: ClientRegistration): RegistrationForm {
  return {
    name: registration.name,
    type: registration.type,
    redirect_uris: registration.redirectUris.join('\n'),
    post_logout_redirect_uris: registration.postLogoutRedirectUris.join('\n'),
    backchannel_logout_uri: registration.backchannelLogoutUri ?? '',
    frontchannel_logout_uri: registration.frontchannelLogoutUri ?? '',
    initiate_login_uri: registration.initiateLoginUri ?? '',
    scopes: registration.scopes,
    reason_nik: registration.scopeReasons.nik ?? '',
    reason_address: registration.scopeReasons.address ?? '',
    auth_method: registration.authMethod,
    client_credentials: registration.clientCredentials ? 'on' : '',
    jwks: registration.jwks ? JSON.stringify(registration.jwks, null, 2) : '',
    jwks_uri: registration.jwksUri ?? '',
    logo_uri: registration.logoUri ?? '',
    policy_uri: registration.policyUri ?? '',
    contact: registration.contact ?? '',
  };
}

/** One line of the side-by-side comparison of a change request with the live client. */
export interface RegistrationDifference {
  field: keyof ClientRegistration;
  live: string;
  requested: string;
  changed: boolean;
}

/** The registration's fields side by side with the live client's (live undefined: a new client). */
export function compare(requested: ClientRegistration, live: ClientRegistration | undefined): RegistrationDifference[] {
  const show = (r: ClientRegistration | undefined, field: keyof ClientRegistration): string => {
    const value = r?.[field];
    if (value === undefined) return '';
    if (typeof value === 'boolean') return value ? '✓' : '';
    if (Array.isArray(value)) return value.join('\n');
    if (typeof value === 'object') return field === 'jwks' ? JSON.stringify(value) : Object.entries(value).map(([k, v]) => `${k}: ${v}`).join('\n');
    return String(value);
  };
  const fields: (keyof ClientRegistration)[] = [
    'name', 'type', 'redirectUris', 'postLogoutRedirectUris', 'backchannelLogoutUri', 'frontchannelLogoutUri', 'initiateLoginUri', 'scopes', 'scopeReasons',
    'authMethod', 'clientCredentials', 'jwks', 'jwksUri', 'logoUri', 'policyUri', 'contact',
  ];
  return fields.map((field) => {
    const liveText = show(live, field);
    const requestedText = show(requested, field);
    return { field, live: liveText, requested: requestedText, changed: live !== undefined && liveText !== requestedText };
  });
}
