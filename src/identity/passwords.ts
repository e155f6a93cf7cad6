import argon2 from 'argon2';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/**
 * Runs tasks with at most `limit` at once; the others wait in line, first come first served. Each
 * argon2id hash holds its memory cost (19 MiB by default) and a thread of libuv's pool while it
 * runs: beyond one per CPU, more at once only adds memory and starves the pool's other work.
 */
export function createLimiter(limit: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

export function createPasswords(params: Argon2Params, concurrency: number) {
  const options = { type: argon2.argon2id as 2, ...params };
  // Hashing and verifying share the one limit.
  const run = createLimiter(concurrency);
  const hash = (password: string) => run(() => argon2.hash(password, options));
  const verify = (stored: string, password: string) => run(() => argon2.verify(stored, password));
  // A real hash of a random password, verified when the account is unknown so that an unknown
  // NIK or email costs the same time as a wrong password.
  const decoy = hash(crypto.randomUUID());

  return {
    hash,
    /** True when the password matches; `rehash` when the stored parameters are below today's. */
    async verify(stored: string | undefined, password: string): Promise<{ ok: boolean; rehash: boolean }> {
      const ok = await verify(stored ?? (await decoy), password).catch(() => false);
      return { ok: ok && stored !== undefined, rehash: ok && stored !== undefined && argon2.needsRehash(stored, options) };
    },
  };
}

export type Passwords = ReturnType<typeof createPasswords>;
