import argon2 from 'argon2';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export function createPasswords(params: Argon2Params) {
  const options = { type: argon2.argon2id as 2, ...params };
  // A real hash of a random password, verified when the account is unknown so that an unknown
  // NIK or email costs the same time as a wrong password.
  const decoy = argon2.hash(crypto.randomUUID(), options);

  return {
    hash: (password: string) => argon2.hash(password, options),
    /** True when the password matches; `rehash` when the stored parameters are below today's. */
    async verify(hash: string | undefined, password: string): Promise<{ ok: boolean; rehash: boolean }> {
      const ok = await argon2.verify(hash ?? (await decoy), password).catch(() => false);
      return { ok: ok && hash !== undefined, rehash: ok && hash !== undefined && argon2.needsRehash(hash, options) };
    },
  };
}

export type Passwords = ReturnType<typeof createPasswords>;
