import { sign } from 'node:crypto';
import type { Middleware } from 'koa';
import { ExternalSigningKey } from 'oidc-provider';
import { nameRoute } from '../metrics.js';
import { ALGORITHMS, type PublishedKey, type SigningAlg, type SigningKeys } from './keys.js';

/**
 * oidc-provider fixes its keystore when it is constructed, yet every process must follow the key
 * schedule in the database without a restart. So the provider gets fixed slots, per algorithm,
 * that are ExternalSigningKeys (oidc-provider's public API for keys held elsewhere) whose kid,
 * public key and role are read from this process's copy of the schedule at each use: the slot of
 * the current key signs and verifies, the others only verify (a previous key's ID tokens come back
 * as id_token_hint; a next key may already sign in a process whose clock runs ahead).
 * keys.rotate() refuses while a rotation is in progress, so two slots per algorithm suffice.
 */
const SLOTS_PER_ALGORITHM = 2;

/** Relying parties may cache the JWKS this long; the promotion delay is what makes that safe. */
const JWKS_MAX_AGE_SECONDS = 300;

const JWKS_ORDER = { current: 0, next: 1, previous: 2, retired: 3, revoked: 4 } as const;

class ScheduledKey extends ExternalSigningKey {
  constructor(
    private readonly keys: SigningKeys,
    private readonly algorithm: SigningAlg,
    private readonly slot: number,
  ) {
    super();
  }

  /** The slot's key (newest first); an empty slot shows the newest key under a kid no token has. */
  #entry(): { key: PublishedKey; kid: string } {
    const published = this.keys.published().filter((key) => key.alg === this.algorithm);
    const key = published[this.slot];
    return key ? { key, kid: key.kid } : { key: published[0]!, kid: `${this.algorithm}-empty-slot-${this.slot}` };
  }

  override get kid() {
    return this.#entry().kid;
  }

  override get alg() {
    return this.algorithm;
  }

  override get key_ops() {
    const { key, kid } = this.#entry();
    return key.kid === kid && key.state === 'current' ? undefined : ['verify'];
  }

  override get kty() {
    return this.#entry().key.publicJwk.kty!;
  }

  override get crv() {
    return this.#entry().key.publicJwk.crv;
  }

  override get n() {
    return this.#entry().key.publicJwk.n;
  }

  override get e() {
    return this.#entry().key.publicJwk.e;
  }

  override get x() {
    return this.#entry().key.publicJwk.x;
  }

  override get y() {
    return this.#entry().key.publicJwk.y;
  }

  override keyObject() {
    return this.#entry().key.publicKey;
  }

  /** Signs with the key that the token's header names (its kid was read from this slot just before). */
  override sign(data: Uint8Array) {
    const encodedHeader = Buffer.from(data).toString('latin1').split('.')[0]!;
    const { kid } = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8')) as { kid?: string };
    const key = this.keys.published().find((candidate) => candidate.kid === kid);
    if (!key) throw new Error(`signing key ${kid} is not published`);
    return sign('sha256', data, this.algorithm === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey);
  }
}

/** The provider's jwks.keys: the slots of every algorithm. */
export function scheduledSigningKeys(keys: SigningKeys): ExternalSigningKey[] {
  return ALGORITHMS.flatMap((alg) => Array.from({ length: SLOTS_PER_ALGORITHM }, (_, slot) => new ScheduledKey(keys, alg, slot)));
}

/**
 * In front of the provider: serves its jwks_uri (/jwks) from this process's copy of the schedule
 * (kept fresh by SigningKeys.follow): the public keys of every next, current and previous key,
 * current first (the provider's own JWKS is the keystore of its start). The body is made once for
 * each set of published keys, not at every request.
 */
export function servePublishedKeys(keys: SigningKeys): Middleware {
  let made: { published: readonly PublishedKey[]; body: Buffer } | undefined;
  return function publishedKeys(ctx, next) {
    if (ctx.path !== '/jwks' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const published = keys.published();
    if (made?.published !== published) {
      const ordered = [...published].sort((a, b) => JWKS_ORDER[a.state] - JWKS_ORDER[b.state]);
      made = { published, body: Buffer.from(JSON.stringify({ keys: ordered.map((key) => key.publicJwk) })) };
    }
    nameRoute(ctx, '/jwks');
    ctx.set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.body = made.body;
  };
}
