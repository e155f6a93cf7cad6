import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import type { CitizenStore } from './citizens.js';
import type { PopulationResult, PopulationVerifier } from './population-verifier.js';

/**
 * Online identity verification: the citizen adds their birth place, and the population-data
 * verifier compares NIK, name, birth place and birth date with the population register. A match
 * raises the account to the verified level, recorded with the method and time.
 */
export function createIdentityVerification(db: Db, citizens: CitizenStore, verifier: PopulationVerifier, audit: Audit) {
  return {
    async verifyOnline(citizenId: string, birthPlace: string, ip: string): Promise<PopulationResult> {
      const citizen = await citizens.findById(citizenId);
      const nik = await citizens.nikOf(citizenId);
      if (!citizen || !nik) return 'not_found';
      const checked = await verifier.verify({ nik, name: citizen.name, birthPlace, birthdate: citizen.birthdate });
      return db.transaction(async (tx) => {
        // Only the name the register matched is verified: a name changed while the check ran is not.
        const raised = checked === 'match' && (await citizens.markIdentityVerified(tx, citizenId, { method: 'population_data', name: citizen.name }));
        const result: PopulationResult = checked === 'match' && !raised ? 'no_match' : checked;
        await audit({ type: result === 'match' ? 'identity.verified' : 'identity.check_failed', citizenId, ip, details: { method: 'population_data', result } }, tx);
        return result;
      });
    },
  };
}

export type IdentityVerification = ReturnType<typeof createIdentityVerification>;
