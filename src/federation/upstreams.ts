import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { z } from 'zod';
import type { Audit } from '../audit/audit.js';
import type { Db } from '../db/db.js';
import { InputError } from '../errors.js';
import {
  DEFAULT_UPSTREAM, isLoopback, isUpstreamIssuer, UPSTREAM_ACR, UPSTREAM_ACR_MAX, UPSTREAM_AUTH_METHODS, UPSTREAM_CLAIM, UPSTREAM_SLUG,
} from '../config.js';
import { imageType, LOGO_MAX_BYTES } from '../clients/units.js';
import type { Sealer } from '../secrets.js';

// The rules of the settings live in config.ts, which checks UPSTREAM_* by them too.
export { DEFAULT_UPSTREAM, isLoopback };

/** How Kediri ID authenticates to an upstream's token endpoint. INApas asks for private_key_jwt with an EC key. */
export const AUTH_METHODS = UPSTREAM_AUTH_METHODS;
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

const ACR_LIST = z
  .string()
  .trim()
  .max(1000)
  .transform((v) => v.split(/[\s,]+/).filter(Boolean))
  .pipe(z.array(z.string().regex(UPSTREAM_ACR)).max(UPSTREAM_ACR_MAX));
const claim = z.string().trim().regex(UPSTREAM_CLAIM, 'claim');

/**
 * The settings of an upstream as an administrator (or UPSTREAM_* in the environment) gives them.
 * The issuer must be https, except on this machine (127.0.0.1, localhost) outside production:
 * development and tests.
 */
const settingsSchema = (production: boolean) =>
  z.object({
    slug: z.string().trim().toLowerCase().regex(UPSTREAM_SLUG),
    label: z.string().trim().min(2).max(40),
    issuer: z.string().trim().max(500).refine((value) => isUpstreamIssuer(value, production)),
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
/** The settings' rules outside production (an http issuer on this machine allowed). */
export const upstreamSettings = settingsSchema(false);
export type UpstreamSettings = z.input<typeof upstreamSettings>;
type CheckedSettings = z.output<typeof upstreamSettings>;

/**
 * The settings were refused: every problem, one per form field (its code and field), for the
 * form's error summary. Its own code and field are the first problem's.
 */
export class UpstreamSettingsError extends InputError {
  constructor(readonly problems: InputError[]) {
    super(problems[0]!.code, problems[0]!.field);
  }
}

/** Our redirect URI at an upstream, registered there with our client; the other addresses an upstream needs sit beside it. */
export const upstreamAddress = (issuer: string, slug: string, path: 'kembali' | 'keluar' | 'jwks.json') => `${issuer}/masuk-dengan/${slug}/${path}`;

const COLUMNS = `slug, label, logo is not null as "hasLogo", issuer, client_id as "clientId", auth_method as "authMethod", scopes,
  nik_claim as "nikClaim", claim_map as "claimMap", verified_acr as "verifiedAcr", mfa_acr as "mfaAcr", enabled, source,
  public_jwk as "publicJwk", updated_at as "updatedAt"`;

/** Every problem of the settings, one per form field (the first the schema finds for it). */
function settingsProblems(error: z.ZodError): InputError[] {
  const fields = error.issues.map((issue) => (issue.path[0] === 'claimMap' ? `claim_${String(issue.path[1])}` : String(issue.path[0])));
  return [...new Set(fields)].map((field) => new InputError(`upstream_${field}_invalid`, field));
}

/** What an audit entry shows of an upstream's settings: everything but the secret, in one order (compared to see a change). */
const shown = (u: Omit<CheckedSettings, 'slug' | 'clientSecret'> & { source: Upstream['source'] }) => ({
  label: u.label,
  issuer: u.issuer,
  clientId: u.clientId,
  authMethod: u.authMethod,
  scopes: u.scopes,
  nikClaim: u.nikClaim,
  claimMap: { name: u.claimMap.name, birthdate: u.claimMap.birthdate, email: u.claimMap.email, phone: u.claimMap.phone },
  verifiedAcr: u.verifiedAcr,
  mfaAcr: u.mfaAcr,
  enabled: u.enabled,
  source: u.source,
});

/**
 * How a save may go: `create` makes a new upstream (its slug must be free), `update` changes one
 * from /admin (not one set by the environment), `environment` writes what UPSTREAM_* describe,
 * new or not.
 */
type SaveMode = 'create' | 'update' | 'environment';

/** How long the login page's list of upstreams is kept (a change made by another process shows within it). */
const ENABLED_MAX_AGE_MS = 10_000;

/**
 * This module owns upstream_providers: the national identity providers Kediri ID signs citizens
 * in with. Client secrets and our private keys are sealed with the instance key. In production an
 * issuer must be https; elsewhere http on this machine is allowed too (development, tests).
 */
export function createUpstreams(db: Db, sealer: Sealer, audit: Audit, { production = false } = {}) {
  const schema = production ? settingsSchema(true) : upstreamSettings;
  /**
   * The login page's buttons, read once in a while rather than at every page: a change made here
   * is seen at once (each write forgets it), one made by another process within ENABLED_MAX_AGE_MS.
   */
  let enabledList: { at: number; upstreams: Promise<Upstream[]> } | undefined;
  async function writing<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      enabledList = undefined;
    }
  }

  async function find(slug: string): Promise<Upstream | undefined> {
    if (!UPSTREAM_SLUG.test(slug)) return undefined;
    const { rows } = await db.query<Upstream>(`select ${COLUMNS} from upstream_providers where slug = $1`, [slug]);
    return rows[0];
  }

  /** The settings checked, or every problem (each naming its field); a secret method needs a secret unless one is kept. */
  function check(input: UpstreamSettings, keptSecret: boolean): { settings?: CheckedSettings; problems: InputError[] } {
    const parsed = schema.safeParse(input);
    const problems = parsed.success ? [] : settingsProblems(parsed.error);
    const method = parsed.success ? parsed.data.authMethod : input.authMethod;
    const secret = parsed.success ? parsed.data.clientSecret : input.clientSecret;
    const secretMethod = method === 'client_secret_basic' || method === 'client_secret_post';
    if (secretMethod && !secret && !keptSecret && !problems.some((p) => p.field === 'clientSecret')) {
      problems.push(new InputError('upstream_clientSecret_required', 'clientSecret'));
    }
    return problems.length > 0 ? { problems } : { settings: parsed.data, problems };
  }

  /**
   * Writes an upstream, new or changed, and audits it (before and after, never the secret); a new
   * one gets our key pair for private_key_jwt. Settings that change nothing write nothing (the
   * environment's are applied at every start). Refused settings throw an UpstreamSettingsError
   * with every problem. Returns the upstream's slug.
   */
  async function save(input: UpstreamSettings, mode: SaveMode, actor: string, ip: string | undefined): Promise<string> {
    const source: Upstream['source'] = mode === 'environment' ? 'environment' : 'admin';
    return writing(() => db.transaction(async (tx) => {
      const slug = typeof input.slug === 'string' ? input.slug.trim().toLowerCase() : '';
      const { rows } = UPSTREAM_SLUG.test(slug)
        ? await tx.query<Upstream & { clientSecretEnc: string | null }>(
          `select ${COLUMNS}, client_secret_enc as "clientSecretEnc" from upstream_providers where slug = $1 for update`,
          [slug],
        )
        : { rows: [] };
      const existing = rows[0];
      if (mode === 'update' && !existing) throw new InputError('upstream_unknown');
      if (mode === 'update' && existing!.source === 'environment') throw new InputError('upstream_from_environment');
      const stored = mode === 'create' ? null : (existing?.clientSecretEnc ?? null);
      const { settings, problems } = check(input, stored !== null);
      if (mode === 'create' && existing) problems.unshift(new InputError('upstream_slug_taken', 'slug'));
      if (!settings || problems.length > 0) throw new UpstreamSettingsError(problems);

      const storedSecret = stored && sealer.open('upstream-secret', stored);
      const secret = settings.authMethod === 'private_key_jwt' ? null : settings.clientSecret || storedSecret;
      const secretChanged = secret !== storedSecret;
      // The issuer as written: discovery checks it character for character (a trailing slash included).
      const after = shown({ ...settings, source });
      const before = existing && shown(existing);
      if (before && !secretChanged && JSON.stringify(before) === JSON.stringify(after)) return slug;

      const sealedSecret = secretChanged ? secret && sealer.seal('upstream-secret', secret) : stored;
      const values = [slug, after.label, after.issuer, after.clientId, after.authMethod, sealedSecret, after.scopes, after.nikClaim,
        JSON.stringify(after.claimMap), after.verifiedAcr, after.mfaAcr, after.enabled, source];
      if (existing) {
        await tx.query(
          `update upstream_providers set label = $2, issuer = $3, client_id = $4, auth_method = $5, client_secret_enc = $6, scopes = $7,
             nik_claim = $8, claim_map = $9::jsonb, verified_acr = $10, mfa_acr = $11, enabled = $12, source = $13, updated_at = now()
           where slug = $1`,
          values,
        );
      } else {
        const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
        const kid = `${slug}-${Date.now().toString(36)}`;
        const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
        const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
        // Two processes starting at once both apply the environment: the second one's insert does nothing.
        const inserted = await tx.query(
          `insert into upstream_providers (slug, label, issuer, client_id, auth_method, client_secret_enc, scopes, nik_claim, claim_map,
             verified_acr, mfa_acr, enabled, source, private_jwk_enc, public_jwk)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15::jsonb)
           on conflict (slug) do nothing`,
          [...values, sealer.seal('upstream-key', JSON.stringify(privateJwk)), JSON.stringify(publicJwk)],
        );
        if (inserted.rowCount === 0) {
          if (mode === 'create') throw new UpstreamSettingsError([new InputError('upstream_slug_taken', 'slug')]);
          return slug;
        }
      }
      await audit({
        type: existing ? 'upstream.updated' : 'upstream.created',
        actor,
        ip,
        details: { upstream: slug, ...(before && { before }), after, ...(secretChanged && { clientSecretChanged: true }) },
      }, tx);
      return slug;
    }));
  }

  return {
    find,

    async list(): Promise<Upstream[]> {
      const { rows } = await db.query<Upstream>(`select ${COLUMNS} from upstream_providers order by label`);
      return rows;
    },

    /** The upstreams the login page offers, by label. */
    async enabled(): Promise<Upstream[]> {
      if (!enabledList || performance.now() - enabledList.at > ENABLED_MAX_AGE_MS) {
        const upstreams = db.query<Upstream>(`select ${COLUMNS} from upstream_providers where enabled order by label`).then(({ rows }) => rows);
        const read = { at: performance.now(), upstreams };
        enabledList = read;
        // A failed read is not kept.
        upstreams.catch(() => {
          if (enabledList === read) enabledList = undefined;
        });
      }
      return structuredClone(await enabledList.upstreams);
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

    /** A new upstream from /admin (it starts as the settings say: enabled or not); refused settings throw an UpstreamSettingsError. */
    create: (settings: UpstreamSettings, actor: string, ip: string) => save(settings, 'create', actor, ip),

    /** Changes an upstream from /admin (not one set by the environment); an empty secret keeps the stored one. */
    update: (settings: UpstreamSettings, actor: string, ip: string) => save(settings, 'update', actor, ip),

    /**
     * The upstream UPSTREAM_* describe, written at every start when it changed (our key pair is
     * kept across starts). An upstream of the same slug made in /admin is taken over.
     */
    applyEnvironment: (settings: UpstreamSettings) => save(settings, 'environment', 'environment', undefined),

    /** Offers an upstream on the login page, or stops offering it (not one set by the environment). */
    async setEnabled(slug: string, enabled: boolean, actor: string, ip: string): Promise<void> {
      await writing(() => db.transaction(async (tx) => {
        const { rows } = UPSTREAM_SLUG.test(slug)
          ? await tx.query<{ source: string; enabled: boolean }>('select source, enabled from upstream_providers where slug = $1 for update', [slug])
          : { rows: [] };
        const row = rows[0];
        if (!row) throw new InputError('upstream_unknown');
        if (row.source === 'environment') throw new InputError('upstream_from_environment');
        if (row.enabled === enabled) return;
        await tx.query('update upstream_providers set enabled = $2, updated_at = now() where slug = $1', [slug, enabled]);
        await audit({ type: 'upstream.updated', actor, ip, details: { upstream: slug, before: { enabled: row.enabled }, after: { enabled } } }, tx);
      }));
    },

    /** Sets the button's logo: a PNG or JPEG of at most LOGO_MAX_BYTES, judged by its content. */
    async setLogo(slug: string, bytes: Buffer, actor: string, ip: string): Promise<void> {
      const type = imageType(bytes);
      if (!type || bytes.length > LOGO_MAX_BYTES) throw new InputError('unit_logo_invalid', 'logo');
      if (!UPSTREAM_SLUG.test(slug)) throw new InputError('upstream_unknown');
      await writing(() => db.transaction(async (tx) => {
        const set = await tx.query('update upstream_providers set logo = $2, logo_type = $3, updated_at = now() where slug = $1', [slug, bytes, type]);
        if (set.rowCount !== 1) throw new InputError('upstream_unknown');
        await audit({ type: 'upstream.updated', actor, ip, details: { upstream: slug, after: { logo: type, bytes: bytes.length } } }, tx);
      }));
    },

    async logo(slug: string): Promise<{ bytes: Buffer; type: string } | undefined> {
      if (!UPSTREAM_SLUG.test(slug)) return undefined;
      const { rows } = await db.query<{ logo: Buffer | Uint8Array; logo_type: string }>(
        'select logo, logo_type from upstream_providers where slug = $1 and logo is not null',
        [slug],
      );
      return rows[0] && { bytes: Buffer.from(rows[0].logo), type: rows[0].logo_type };
    },
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;
