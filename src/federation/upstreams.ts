import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { z } from 'zod';
import type { Audit } from '../audit/audit.js';
import type { Db } from '../db/db.js';
import { InputError } from '../errors.js';
import { imageType, LOGO_MAX_BYTES } from '../clients/units.js';
import type { Sealer } from '../secrets.js';

/** How Kediri ID authenticates to an upstream's token endpoint. INApas asks for private_key_jwt with an EC key. */
export const AUTH_METHODS = ['private_key_jwt', 'client_secret_basic', 'client_secret_post'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** Which upstream claims carry the account's details (the NIK's claim is `nikClaim`). */
export interface ClaimMap {
  name: string;
  birthdate: string;
  email: string;
  phone: string;
}

/** An upstream OpenID Connect provider (INApas, IKD) that citizens may sign in with. */
export interface Upstream {
  slug: string;
  label: string;
  hasLogo: boolean;
  issuer: string;
  clientId: string;
  authMethod: AuthMethod;
  scopes: string;
  nikClaim: string;
  claimMap: ClaimMap;
  /** Upstream acr values that prove the identity: the account becomes verified. */
  verifiedAcr: string[];
  /** Upstream acr values that also prove a second factor: verified-mfa. */
  mfaAcr: string[];
  enabled: boolean;
  source: 'admin' | 'environment';
  /** Our public key for private_key_jwt, as the upstream registers it. */
  publicJwk: JWK;
  updatedAt: Date;
}

/** What Kediri ID proves itself with at the upstream's token endpoint. */
export type UpstreamCredentials = { method: 'client_secret_basic' | 'client_secret_post'; secret: string } | { method: 'private_key_jwt'; privateJwk: JWK };

const SLUG = /^[a-z0-9][a-z0-9-]{1,30}$/;
const CLAIM = /^[A-Za-z0-9_.:-]{1,100}$/;
const ACR_LIST = z.string().trim().max(1000).transform((v) => v.split(/[\s,]+/).filter(Boolean));
const claim = z.string().trim().regex(CLAIM, 'claim');

/**
 * The settings of an upstream as an administrator (or UPSTREAM_* in the environment) gives them.
 * The issuer must be https, except on this machine (127.0.0.1, localhost) outside production:
 * development and tests.
 */
export const upstreamSettings = z.object({
  slug: z.string().trim().toLowerCase().regex(SLUG),
  label: z.string().trim().min(2).max(40),
  issuer: z.string().trim().max(500).refine(isIssuerUrl),
  clientId: z.string().trim().min(1).max(200),
  authMethod: z.enum(AUTH_METHODS),
  /** Empty when editing keeps the stored secret; required for the secret methods otherwise. */
  clientSecret: z.string().max(500).default(''),
  scopes: z.string().trim().max(300).regex(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/).refine((s) => s.split(' ').includes('openid')),
  nikClaim: claim,
  claimMap: z.object({ name: claim, birthdate: claim, email: claim, phone: claim }),
  verifiedAcr: ACR_LIST,
  mfaAcr: ACR_LIST,
  enabled: z.boolean(),
});
export type UpstreamSettings = z.input<typeof upstreamSettings>;

/** An https URL, or http on this machine: an upstream's issuer (no query, no fragment, no credentials). */
function isIssuerUrl(value: string): boolean {
  const url = URL.parse(value);
  if (!url || url.search || url.hash || url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
}

/** Our redirect URI at an upstream, registered there with our client; the other addresses an upstream needs sit beside it. */
export const upstreamAddress = (issuer: string, slug: string, path: 'kembali' | 'keluar' | 'jwks.json') => `${issuer}/masuk-dengan/${slug}/${path}`;

export const isLoopback = (hostname: string) => hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';

/** The defaults a new upstream starts from: INApas as its documentation describes it. */
export const DEFAULT_UPSTREAM = {
  scopes: 'openid profile email phone nik',
  nikClaim: 'nik',
  claimMap: { name: 'name', birthdate: 'birthdate', email: 'email', phone: 'phone_number' },
} as const;

const COLUMNS = `slug, label, logo is not null as "hasLogo", issuer, client_id as "clientId", auth_method as "authMethod", scopes,
  nik_claim as "nikClaim", claim_map as "claimMap", verified_acr as "verifiedAcr", mfa_acr as "mfaAcr", enabled, source,
  public_jwk as "publicJwk", updated_at as "updatedAt"`;

/** The form field each settings problem belongs to. */
function settingsProblems(error: z.ZodError): InputError[] {
  return error.issues.map((issue) => {
    const field = issue.path[0] === 'claimMap' ? `claim_${String(issue.path[1])}` : String(issue.path[0]);
    return new InputError(`upstream_${field}_invalid`, field);
  });
}

/**
 * This module owns upstream_providers: the national identity providers Kediri ID signs citizens
 * in with. Client secrets and our private keys are sealed with the instance key.
 */
export function createUpstreams(db: Db, sealer: Sealer, audit: Audit) {
  async function find(slug: string): Promise<Upstream | undefined> {
    const { rows } = await db.query<Upstream>(`select ${COLUMNS} from upstream_providers where slug = $1`, [slug]);
    return rows[0];
  }

  /** The settings checked, or every problem (each naming its field); a secret method needs a secret unless one is kept. */
  function check(input: UpstreamSettings, keptSecret: boolean): z.output<typeof upstreamSettings> {
    const parsed = upstreamSettings.safeParse(input);
    if (!parsed.success) throw settingsProblems(parsed.error)[0]!;
    const settings = parsed.data;
    if (settings.authMethod !== 'private_key_jwt' && !settings.clientSecret && !keptSecret) throw new InputError('upstream_clientSecret_required', 'clientSecret');
    return settings;
  }

  /** Writes an upstream, new or changed; a new one gets our key pair for private_key_jwt. */
  async function save(input: UpstreamSettings, source: Upstream['source'], actor: string, ip: string | undefined, mustBeNew: boolean): Promise<void> {
    await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ client_secret_enc: string | null; source: string }>(
        'select client_secret_enc, source from upstream_providers where slug = $1 for update',
        [String(input.slug).trim().toLowerCase()],
      );
      const existing = rows[0];
      if (existing && mustBeNew) throw new InputError('upstream_slug_taken', 'slug');
      if (existing && existing.source === 'environment' && source === 'admin') throw new InputError('upstream_from_environment');
      const settings = check(input, existing?.client_secret_enc != null);
      const secret = settings.authMethod === 'private_key_jwt' ? null
        : settings.clientSecret ? sealer.seal('upstream-secret', settings.clientSecret) : existing!.client_secret_enc;
      const values = [settings.slug, settings.label, settings.issuer.replace(/\/$/, ''), settings.clientId, settings.authMethod, secret,
        settings.scopes, settings.nikClaim, JSON.stringify(settings.claimMap), settings.verifiedAcr, settings.mfaAcr, settings.enabled];
      if (existing) {
        await tx.query(
          `update upstream_providers set label = $2, issuer = $3, client_id = $4, auth_method = $5, client_secret_enc = $6, scopes = $7,
             nik_claim = $8, claim_map = $9::jsonb, verified_acr = $10, mfa_acr = $11, enabled = $12, updated_at = now()
           where slug = $1`,
          values,
        );
      } else {
        const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
        const kid = `${settings.slug}-${Date.now().toString(36)}`;
        const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
        const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
        await tx.query(
          `insert into upstream_providers (slug, label, issuer, client_id, auth_method, client_secret_enc, scopes, nik_claim, claim_map,
             verified_acr, mfa_acr, enabled, private_jwk_enc, public_jwk, source)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14::jsonb, $15)`,
          [...values, sealer.seal('upstream-key', JSON.stringify(privateJwk)), JSON.stringify(publicJwk), source],
        );
      }
      // The details name what changed, never the secret.
      const { clientSecret: _, ...shown } = settings;
      await audit({ type: existing ? 'upstream.updated' : 'upstream.created', actor, ip, details: { upstream: settings.slug, after: shown } }, tx);
    });
  }

  return {
    find,

    async list(): Promise<Upstream[]> {
      const { rows } = await db.query<Upstream>(`select ${COLUMNS} from upstream_providers order by label`);
      return rows;
    },

    /** The upstreams the login page offers, by label. */
    async enabled(): Promise<Upstream[]> {
      const { rows } = await db.query<Upstream>(`select ${COLUMNS} from upstream_providers where enabled order by label`);
      return rows;
    },

    async credentials(slug: string): Promise<UpstreamCredentials | undefined> {
      const { rows } = await db.query<{ auth_method: AuthMethod; client_secret_enc: string | null; private_jwk_enc: string }>(
        'select auth_method, client_secret_enc, private_jwk_enc from upstream_providers where slug = $1',
        [slug],
      );
      const row = rows[0];
      if (!row) return undefined;
      return row.auth_method === 'private_key_jwt'
        ? { method: 'private_key_jwt', privateJwk: JSON.parse(sealer.open('upstream-key', row.private_jwk_enc)) as JWK }
        : { method: row.auth_method, secret: sealer.open('upstream-secret', row.client_secret_enc!) };
    },

    /** A new upstream from /admin; an InputError names the field at fault. */
    create: (settings: UpstreamSettings, actor: string, ip: string) => save(settings, 'admin', actor, ip, true),

    /** Changes an upstream from /admin (not one set by the environment); an empty secret keeps the stored one. */
    update: (settings: UpstreamSettings, actor: string, ip: string) => save(settings, 'admin', actor, ip, false),

    /** The upstream UPSTREAM_* describe, written at every start (our key pair is kept across starts). */
    applyEnvironment: (settings: UpstreamSettings) => save(settings, 'environment', 'environment', undefined, false),

    /** Sets the button's logo: a PNG or JPEG of at most LOGO_MAX_BYTES, judged by its content. */
    async setLogo(slug: string, bytes: Buffer, actor: string, ip: string): Promise<void> {
      const type = imageType(bytes);
      if (!type || bytes.length > LOGO_MAX_BYTES) throw new InputError('unit_logo_invalid', 'logo');
      await db.transaction(async (tx) => {
        const set = await tx.query('update upstream_providers set logo = $2, logo_type = $3, updated_at = now() where slug = $1', [slug, bytes, type]);
        if (set.rowCount !== 1) throw new InputError('upstream_unknown');
        await audit({ type: 'upstream.updated', actor, ip, details: { upstream: slug, after: { logo: type, bytes: bytes.length } } }, tx);
      });
    },

    async logo(slug: string): Promise<{ bytes: Buffer; type: string } | undefined> {
      const { rows } = await db.query<{ logo: Buffer | Uint8Array; logo_type: string }>(
        'select logo, logo_type from upstream_providers where slug = $1 and logo is not null',
        [slug],
      );
      return rows[0] && { bytes: Buffer.from(rows[0].logo), type: rows[0].logo_type };
    },
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;
