import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Audit } from '../audit/audit.js';
import type { Db, Queryable } from '../db/db.js';
import { InputError } from '../errors.js';
import { openStored, type Sealer } from '../secrets.js';

/** RS256 first: it is the ID token algorithm every relying party supports; ES256 beside it. */
export const ALGORITHMS = ['RS256', 'ES256'] as const;
export type SigningAlg = (typeof ALGORITHMS)[number];
const PURPOSE = 'signing-key';

/**
 * How long a superseded key stays published after its successor starts signing: longer than
 * anything it signed is used. ID tokens and signed userinfo live 10 minutes and logout tokens 2
 * (oidc-provider's fixed value), but a relying party keeps its ID token and sends it back as
 * id_token_hint at logout for as long as the session lasts: TTL.Session in provider.ts, 8 hours
 * (a test holds this value to TTL). Plus 15 minutes for clocks and caches.
 */
export const RETIRE_AFTER_SECONDS = 8 * 60 * 60 + 15 * 60;

/** How old a process's copy of the schedule may get before it is read again (at once, too, when it hears a change announced). */
export const REFRESH_MS = 5000;

/**
 * Announced when the schedule changes at once (a revocation): every serving process that hears it
 * reads the schedule again without waiting for its next round.
 */
export const SIGNING_KEYS_CHANGED = 'signing_keys_changed';

/**
 * A key's state follows from the time: "next" before signing_from; "current" when it is the key of
 * its algorithm that started signing last; "previous" once a successor signs, until retire_at;
 * then "retired" (no longer published, its private key erased). "revoked" overrides them all: an
 * administrator took the key out of use at once (revoke), and it never comes back.
 */
export type KeyState = 'next' | 'current' | 'previous' | 'retired' | 'revoked';

interface Schedule {
  kid: string;
  alg: SigningAlg;
  publishedAt: Date;
  signingFrom: Date;
  retireAt: Date | null;
  revokedAt: Date | null;
}

export interface KeyInfo extends Schedule {
  state: KeyState;
}

interface KeyMaterial {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** What the JWKS lists: the public members only. */
  publicJwk: JWK;
}

export interface PublishedKey extends KeyInfo, KeyMaterial {}

const SCHEDULE = 'kid, alg, published_at as "publishedAt", signing_from as "signingFrom", retire_at as "retireAt", revoked_at as "revokedAt"';

/** The keys of the algorithm that started signing after this one, by `now` (a revoked key supersedes nothing). */
function successors(key: Schedule, all: Schedule[], now: number): Schedule[] {
  return all.filter(
    (other) => !other.revokedAt && other.alg === key.alg && other.signingFrom.getTime() > key.signingFrom.getTime() && other.signingFrom.getTime() <= now,
  );
}

function stateAt(key: Schedule, all: Schedule[], now: number): KeyState {
  if (key.revokedAt) return 'revoked';
  if (key.signingFrom.getTime() > now) return 'next';
  if (key.retireAt && key.retireAt.getTime() <= now) return 'retired';
  return successors(key, all, now).length > 0 ? 'previous' : 'current';
}

/**
 * A revoked key: its state until then, the time it signed (none for a next key), and the key that
 * signs for its algorithm in its place when it was the current one.
 */
export interface RevokedKey {
  kid: string;
  alg: SigningAlg;
  state: Exclude<KeyState, 'revoked' | 'retired'>;
  signedFrom: Date | null;
  signedUntil: Date | null;
  replacedBy: string | null;
}

/** The first moment after now at which a key of the schedule changes state (Infinity: none will). */
function nextStateChange(all: Schedule[], now: number): number {
  const moments = all.flatMap((key) => [key.signingFrom.getTime(), key.retireAt?.getTime() ?? Infinity]);
  return Math.min(Infinity, ...moments.filter((moment) => moment > now));
}

async function newSigningKey(alg: SigningAlg): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

function keyMaterial(jwk: JWK): KeyMaterial {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: jwk.kid, alg: jwk.alg, use: 'sig' } };
}

/**
 * The token-signing keys and their schedule, kept in the database (private keys encrypted) so
 * that every process follows the same schedule. rotate() and list() serve the operator CLI and the
 * admin console; a serving process also keeps a copy of the published keys in memory (published(),
 * read again every few seconds through fresh()) for the provider to sign and verify with.
 */
export function createSigningKeys(db: Db, sealer: Sealer, audit: Audit, promotionSeconds: number) {
  let loaded: Array<Schedule & KeyMaterial> = [];
  let loadedAt = 0;
  let refreshing: Promise<void> | undefined;
  /** published() until the next state change or the next read of the schedule, whichever comes first. */
  let published: { keys: readonly PublishedKey[]; until: number } | undefined;
  let ensured: Promise<void> | undefined;

  /** Adds a new key of this algorithm, published now and signing after delaySeconds. */
  async function addKey(tx: Queryable, alg: SigningAlg, delaySeconds: number): Promise<string> {
    const key = await newSigningKey(alg);
    await tx.query(
      'insert into signing_keys (kid, alg, private_jwk_enc, published_at, signing_from) values ($1, $2, $3, now(), now() + make_interval(secs => $4))',
      [key.kid, alg, sealer.seal(PURPOSE, JSON.stringify(key)), delaySeconds],
    );
    return key.kid!;
  }

  /**
   * Under the schedule's lock (so that processes starting together make one set): gives each
   * algorithm that has no key yet one that signs from now. Every algorithm then has exactly one
   * key that is not superseded (retire_at null): the current one, or the next one during a rotation.
   */
  async function addMissingKeys(tx: Queryable): Promise<void> {
    await tx.query("select pg_advisory_xact_lock(hashtext('signing_keys'))");
    const { rows } = await tx.query<{ alg: string }>('select alg from signing_keys where retire_at is null and revoked_at is null');
    for (const alg of ALGORITHMS) if (!rows.some((row) => row.alg === alg)) await addKey(tx, alg, 0);
  }

  /** Reads the schedule and the private keys still in use; erases those that retired. */
  async function refresh(): Promise<void> {
    const readAt = Date.now();
    await db.query('update signing_keys set private_jwk_enc = null where retire_at <= now() and private_jwk_enc is not null');
    const { rows } = await db.query<Schedule & { private_jwk_enc: string }>(
      `select ${SCHEDULE}, private_jwk_enc from signing_keys where private_jwk_enc is not null`,
    );
    loaded = rows.map(({ private_jwk_enc, ...schedule }) => ({ ...schedule, ...keyMaterial(JSON.parse(openStored(sealer, PURPOSE, private_jwk_enc)) as JWK) }));
    loadedAt = readAt;
    published = undefined;
  }

  /** Reads the schedule now (joining a read already under way). */
  function reload(): Promise<void> {
    refreshing ??= refresh().finally(() => (refreshing = undefined));
    return refreshing;
  }

  /** Reads the schedule after a change: a read already under way may have begun before it, so a new one follows it. */
  async function rereadAfterChange(): Promise<void> {
    await refreshing?.catch(() => {});
    await reload();
  }

  /**
   * In the caller's transaction, under the schedule's lock: takes the key out of use for good (its
   * private key erased) and announces it (SIGNING_KEYS_CHANGED, sent at the commit). When it was
   * the current key, its algorithm's next key (during a rotation) signs from now, or else a new
   * key does; when it was a next key, the current key is no longer superseded.
   */
  async function revokeIn(tx: Queryable, kid: string): Promise<RevokedKey> {
    await tx.query("select pg_advisory_xact_lock(hashtext('signing_keys'))");
    const { rows } = await tx.query<Schedule & { now: Date }>(`select ${SCHEDULE}, now() as now from signing_keys`);
    const key = rows.find((row) => row.kid === kid);
    if (!key) throw new InputError('key_unknown', undefined, `no signing key has the kid ${kid}`);
    const now = key.now.getTime();
    const state = stateAt(key, rows, now);
    if (state === 'revoked') throw new InputError('key_already_revoked', undefined, `the key ${kid} was revoked at ${key.revokedAt!.toISOString()}`);
    if (state === 'retired') throw new InputError('key_retired', undefined, `the key ${kid} is retired: no longer published, its private key erased`);
    await tx.query('update signing_keys set revoked_at = now(), private_jwk_enc = null where kid = $1', [kid]);
    const others = rows.filter((row) => row.alg === key.alg && row !== key && !row.revokedAt);
    const inState = (wanted: KeyState) => others.find((row) => stateAt(row, rows, now) === wanted);
    let replacedBy: string | null = null;
    if (state === 'current') {
      const next = inState('next');
      if (next) await tx.query('update signing_keys set signing_from = now() where kid = $1', [next.kid]);
      replacedBy = next?.kid ?? (await addKey(tx, key.alg, 0));
    }
    if (state === 'next') {
      const current = inState('current');
      if (current) await tx.query('update signing_keys set retire_at = null where kid = $1', [current.kid]);
    }
    await tx.query('select pg_notify($1, $2)', [SIGNING_KEYS_CHANGED, kid]);
    // A previous key signed until its first successor began (one since revoked counts not: a later time, so more is ended).
    const successor = Math.min(...successors(key, rows, now).map((row) => row.signingFrom.getTime()));
    return {
      kid,
      alg: key.alg,
      state,
      signedFrom: state === 'next' ? null : key.signingFrom,
      signedUntil: state === 'next' ? null : state === 'current' ? key.now : new Date(successor),
      replacedBy,
    };
  }

  return {
    /** At server start: makes the first keys if there are none, and reads the schedule. Once: a second call waits for the first. */
    ensure(): Promise<void> {
      ensured ??= (async () => {
        // The keys there are are read first: a wrong ENCRYPTION_KEY stops the start before anything is sealed with it.
        await refresh();
        await db.transaction(addMissingKeys);
        await refresh();
      })();
      return ensured;
    },

    /** Reads the schedule again when this process's copy is more than a few seconds old. */
    fresh(): Promise<void> {
      return Date.now() - loadedAt < REFRESH_MS ? Promise.resolve() : reload();
    },

    /**
     * A serving process: reads the schedule again every few seconds, in the background (requests
     * never wait for it), until the returned function is called. A failed read keeps the copy,
     * whose keys still change state on time, and is tried again at the next round.
     */
    async follow(onError: (error: unknown) => void): Promise<() => void> {
      let following = true;
      const timer = setInterval(() => reload().catch(onError), REFRESH_MS);
      timer.unref();
      // A revocation is heard at once; when the listening connection comes back, what it may have missed is read.
      const reread = () => {
        if (following) rereadAfterChange().catch(onError);
      };
      await db.listen(SIGNING_KEYS_CHANGED, reread, (heard) => heard && reread()).catch(onError);
      return () => {
        following = false;
        clearInterval(timer);
      };
    },

    /**
     * The published keys (next, current, previous) by this process's clock, the newest first. The
     * same array until a key changes state or the schedule is read again: callers may compare it.
     */
    published(): readonly PublishedKey[] {
      const now = Date.now();
      if (!published || now >= published.until) {
        const keys = loaded
          .map((key) => ({ ...key, state: stateAt(key, loaded, now) }))
          .filter((key) => key.state !== 'retired')
          .sort((a, b) => b.signingFrom.getTime() - a.signingFrom.getTime() || ALGORITHMS.indexOf(a.alg) - ALGORITHMS.indexOf(b.alg));
        published = { keys, until: nextStateChange(loaded, now) };
      }
      return published.keys;
    },

    /** Every key with its state and times, without private material. */
    async list(): Promise<KeyInfo[]> {
      const { rows } = await db.query<Schedule>(`select ${SCHEDULE} from signing_keys order by published_at, alg`);
      const now = Date.now();
      return rows.map((row) => ({ ...row, state: stateAt(row, rows, now) }));
    },

    /**
     * Publishes a new key per algorithm now, signing after the promotion delay (relying parties'
     * JWKS caches commonly hold a day); each current key then stays published for
     * RETIRE_AFTER_SECONDS more. Refused while an earlier rotation is still in progress (a next or
     * a previous key exists), so an algorithm never has more than two published keys.
     */
    async rotate(actor: string) {
      const rotated = await db.transaction(async (tx) => {
        await addMissingKeys(tx);
        const pending = await tx.query<{ until: Date | null }>('select max(retire_at) as until from signing_keys where retire_at > now() and revoked_at is null');
        const until = pending.rows[0]?.until;
        if (until) throw new InputError('key_rotation_pending', undefined, `a key rotation is in progress until ${until.toISOString()}`);
        const retiring = await tx.query<{ kid: string; retireAt: Date }>(
          'update signing_keys set retire_at = now() + make_interval(secs => $1) where retire_at is null and revoked_at is null returning kid, retire_at as "retireAt"',
          [promotionSeconds + RETIRE_AFTER_SECONDS],
        );
        const published: string[] = [];
        for (const alg of ALGORITHMS) published.push(await addKey(tx, alg, promotionSeconds));
        const { rows } = await tx.query<{ signingFrom: Date }>('select now() + make_interval(secs => $1) as "signingFrom"', [promotionSeconds]);
        const result = {
          published,
          signingFrom: rows[0]!.signingFrom,
          retiring: retiring.rows.map((row) => row.kid),
          retireAt: retiring.rows[0]!.retireAt,
        };
        await audit({ type: 'keys.rotated', actor, details: result }, tx);
        return result;
      });
      // This process publishes the new keys at once (the others within a few seconds).
      await rereadAfterChange();
      return rotated;
    },

    /**
     * Revokes a key in an emergency (revokeIn), and runs `alongside` in the same transaction with
     * what was revoked (notices, the audit entry). This process stops using the
     * key before it returns; every process that follows the schedule, when it hears the
     * announcement (milliseconds), or at its next round when it was not listening.
     */
    async revoke<T>(kid: string, alongside: (tx: Queryable, revoked: RevokedKey) => Promise<T>): Promise<T> {
      const result = await db.transaction(async (tx) => alongside(tx, await revokeIn(tx, kid)));
      await rereadAfterChange();
      return result;
    },
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;

/**
 * What is wrong with the signing keys in the database, in plain words, without changing them:
 * an algorithm with no current key, or a key in use that this ENCRYPTION_KEY cannot decrypt.
 */
export async function signingKeyProblems(db: Queryable, sealer: Sealer): Promise<string[]> {
  const { rows } = await db.query<Schedule & { private_jwk_enc: string | null }>(`select ${SCHEDULE}, private_jwk_enc from signing_keys`);
  const now = Date.now();
  const problems: string[] = [];
  for (const alg of ALGORITHMS) {
    if (!rows.some((row) => row.alg === alg && stateAt(row, rows, now) === 'current')) problems.push(`no current ${alg} key (the server makes one when it starts)`);
  }
  const unreadable = rows.filter((row) => {
    if (!row.private_jwk_enc) return false;
    try {
      sealer.open(PURPOSE, row.private_jwk_enc);
      return false;
    } catch {
      return true;
    }
  });
  if (unreadable.length > 0) {
    problems.push(`ENCRYPTION_KEY cannot decrypt ${unreadable.length} signing key(s) (${unreadable.map((row) => row.kid).join(', ')}): is it the key this database was made with?`);
  }
  return problems;
}
