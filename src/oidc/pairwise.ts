import type { Sealer } from '../secrets.js';

/**
 * The subject identifier (sub) that a unit's services see for an account (pairwise per unit, as
 * README.md's "Integrate your unit's service" tells integrators): a keyed hash of the unit and the
 * account under the instance key. The unit is the sector, so every service of one unit sees the
 * same sub and two units cannot link theirs. A pure function of (unit, account, instance key): the
 * same in every process and after every restart.
 * (Unit slugs hold no ':', so the hashed string names one pair only.)
 */
export function pairwiseSubject(sealer: Sealer, unit: string, accountId: string): string {
  return sealer.keyedHash('pairwise-subject', `${unit}:${accountId}`);
}
