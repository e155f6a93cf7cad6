import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Db } from '../db/db.js';
import type { Sealer } from '../secrets.js';

/** RS256 first: it is the ID token algorithm every relying party supports; ES256 beside it. */
const ALGORITHMS = ['RS256', 'ES256'] as const;
const PURPOSE = 'signing-key';

async function newSigningKey(alg: (typeof ALGORITHMS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

/**
 * The active private signing keys, generated on the first start of the instance (under an advisory
 * lock, so two processes starting together make one set) and kept encrypted in the database.
 */
export async function loadSigningKeys(db: Db, sealer: Sealer): Promise<JWK[]> {
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext('signing_keys'))");
    const active = await tx.query<{ alg: string; private_jwk_enc: string }>(
      "select alg, private_jwk_enc from signing_keys where status = 'active' order by created_at, kid",
    );
    const keys = active.rows.map((row) => JSON.parse(sealer.open(PURPOSE, row.private_jwk_enc)) as JWK);
    for (const alg of ALGORITHMS) {
      if (keys.some((key) => key.alg === alg)) continue;
      const key = await newSigningKey(alg);
      await tx.query('insert into signing_keys (kid, alg, private_jwk_enc) values ($1, $2, $3)', [
        key.kid,
        alg,
        sealer.seal(PURPOSE, JSON.stringify(key)),
      ]);
      keys.push(key);
    }
    return ALGORITHMS.flatMap((alg) => keys.filter((key) => key.alg === alg));
  });
}
