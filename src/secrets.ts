import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.js';
import type { Db } from './db/db.js';

/**
 * Every purpose the instance key is used for; each has a subkey of its own. Named here so that a
 * misspelt purpose fails the type check instead of sealing with a key nothing opens.
 */
export type Purpose =
  // Sealed (encrypted at rest).
  | 'nik'
  | 'client-secret'
  | 'totp-secret'
  | 'signing-key'
  | 'instance-secret'
  | 'phone-reset'
  | 'upstream-secret'
  | 'upstream-key'
  | 'upstream-request'
  // Keyed hashes, to look a value up without storing it in clear (the NIK's as well).
  | 'login-identifier'
  | 'account-token'
  | 'account-code'
  | 'recovery-code'
  | 'staff-invitation'
  | 'initial-access-token'
  | 'registration-access-token'
  | 'csrf'
  | 'pairwise-subject'
  | 'population-query'
  | 'phone-code'
  | 'upstream-state'
  | 'upstream-browser';

/** Encrypts and hashes with subkeys of the instance encryption key, one subkey per purpose. */
export interface Sealer {
  seal(purpose: Purpose, plaintext: string): string;
  open(purpose: Purpose, sealed: string): string;
  /** A keyed hash for looking a value up without storing it in clear (e.g. the NIK). */
  keyedHash(purpose: Purpose, value: string): string;
}

export function createSealer(encryptionKey: string): Sealer {
  const master = Buffer.from(encryptionKey, 'base64url');
  const subkeys = new Map<string, Buffer>();
  const subkey = (purpose: `${'seal' | 'hash'}:${Purpose}`) => {
    let key = subkeys.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `kediri-id:${purpose}`, 32));
      subkeys.set(purpose, key);
    }
    return key;
  };
  return {
    seal(purpose, plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', subkey(`seal:${purpose}`), iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(purpose, sealed) {
      const [version, iv, body] = sealed.split('.');
      const bytes = Buffer.from(body ?? '', 'base64url');
      if (version !== 'v1' || !iv || bytes.length < 16) throw new Error('unknown sealed value format');
      const decipher = createDecipheriv('aes-256-gcm', subkey(`seal:${purpose}`), Buffer.from(iv, 'base64url'), {
        authTagLength: 16,
      });
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
    },
    keyedHash(purpose, value) {
      return createHmac('sha256', subkey(`hash:${purpose}`)).update(value).digest('base64url');
    },
  };
}

export const newSecret = () => randomBytes(32).toString('base64url');

/**
 * The encryption key from config, else the one kept in DATA_DIR/secrets.json; undefined when
 * there is none yet (nothing is made: for the checks of kediri-id doctor and restore).
 */
export async function storedEncryptionKey(config: Config): Promise<string | undefined> {
  if (config.encryptionKey) return config.encryptionKey;
  const file = join(config.dataDir, 'secrets.json');
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as { encryptionKey?: unknown };
    if (typeof stored.encryptionKey === 'string') return stored.encryptionKey;
    throw new Error(`${file} has no encryptionKey`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return undefined;
  }
}

/**
 * The encryption key from config, or (when config has none, which production with DATABASE_URL
 * forbids) the one generated on first start and kept in DATA_DIR/secrets.json, readable by the
 * owner only, so that a restart can still read what it encrypted.
 */
export async function resolveEncryptionKey(config: Config): Promise<string> {
  const existing = await storedEncryptionKey(config);
  if (existing) return existing;
  await mkdir(config.dataDir, { recursive: true });
  const encryptionKey = newSecret();
  // Written whole under a name of its own, then linked into place: whoever reads secrets.json reads
  // a whole file, and of two processes starting together one links first and the other uses its key.
  const draft = join(config.dataDir, `secrets.json.${randomBytes(6).toString('hex')}`);
  await writeFile(draft, JSON.stringify({ encryptionKey }) + '\n', { mode: 0o600, flag: 'wx' });
  try {
    await link(draft, join(config.dataDir, 'secrets.json'));
    return encryptionKey;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return resolveEncryptionKey(config);
    throw error;
  } finally {
    await rm(draft, { force: true });
  }
}

/** The encryption key does not open what the database holds: it is not the key the database was made with. */
export class WrongEncryptionKey extends Error {
  constructor() {
    super(
      'ENCRYPTION_KEY cannot decrypt the secrets this database holds: start with the ENCRYPTION_KEY (or DATA_DIR/secrets.json) ' +
        'the database was made with; `kediri-id doctor` checks it',
    );
  }
}

/**
 * Opens a value this instance sealed and stored, which only the encryption key that sealed it can
 * open: a failure means the key is not that one (WrongEncryptionKey, said in one line at start).
 */
export function openStored(sealer: Sealer, purpose: Purpose, sealed: string): string {
  try {
    return sealer.open(purpose, sealed);
  } catch {
    throw new WrongEncryptionKey();
  }
}

/**
 * A secret of the instance kept sealed in the instance_secrets table, generated once by whichever
 * process gets there first (under one advisory lock), so that every process uses the same value.
 */
async function instanceSecret(db: Db, sealer: Sealer, name: string, generate: () => string): Promise<string> {
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext('instance_secrets'))");
    const found = await tx.query<{ value_enc: string }>('select value_enc from instance_secrets where name = $1', [name]);
    if (found.rows[0]) return openStored(sealer, 'instance-secret', found.rows[0].value_enc);
    const value = generate();
    await tx.query('insert into instance_secrets (name, value_enc) values ($1, $2)', [name, sealer.seal('instance-secret', value)]);
    return value;
  });
}

/**
 * The cookie keys from config, or else those in the database: every process of the instance signs
 * and reads cookies alike.
 */
export async function resolveCookieKeys(config: Config, db: Db, sealer: Sealer): Promise<string[]> {
  if (config.cookieKeys) return config.cookieKeys;
  return JSON.parse(await instanceSecret(db, sealer, 'cookie_keys', () => JSON.stringify([newSecret()]))) as string[];
}

/**
 * The 32-byte secret the provider derives DPoP nonces from (they are computed, not stored): a nonce
 * that one process hands out must check on every other.
 */
export async function resolveDpopNonceSecret(db: Db, sealer: Sealer): Promise<Buffer> {
  return Buffer.from(await instanceSecret(db, sealer, 'dpop_nonce_secret', newSecret), 'base64url');
}
