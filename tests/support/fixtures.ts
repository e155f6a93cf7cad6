import { generate } from 'otplib';
import type { Services } from '../../src/services.js';
import { testClock } from './clock.js';
import type { NewClient } from '../../src/clients/clients.js';

export const CALLBACK = 'http://127.0.0.1:9/callback';
export const AFTER_LOGOUT = 'http://127.0.0.1:9/signed-out';

/** A sample citizen: the NIK is structurally valid (Kota Kediri, Mojoroto, a woman born 1 Jan 1990). */
export const SITI = {
  nik: '3571014101900001',
  name: 'Siti Aminah',
  birthdate: '1990-01-01',
  email: 'siti@example.id',
  password: 'kembang-api-di-alun-alun',
};

export async function createCitizen(instance: Pick<Services, 'citizens'>, citizen = SITI) {
  return instance.citizens.create(citizen, { actor: 'test', emailVerified: true });
}

/**
 * A web client made as the operator makes one (clients.createActive), which also takes tokens for
 * itself (client_credentials); refresh_token is among its grant types when its scope has offline_access.
 */
export async function createWebClient(instance: Pick<Services, 'clients'>, overrides: Partial<NewClient> = {}) {
  const scope = overrides.scope ?? 'openid offline_access profile email phone';
  const refresh = scope.split(' ').includes('offline_access') ? ['refresh_token' as const] : [];
  const created = await instance.clients.createActive(
    {
      unit: 'dispendukcapil',
      name: 'Layanan Akta',
      redirectUris: [CALLBACK],
      postLogoutRedirectUris: [AFTER_LOGOUT],
      scope,
      authMethod: 'client_secret_basic',
      grantTypes: ['authorization_code', ...refresh, 'client_credentials'],
      ...overrides,
    },
    'test',
  );
  return { clientId: created.client_id, clientSecret: created.client_secret! };
}

/** The last TOTP time step used per secret: the server takes each step once. */
const lastSteps = new Map<string, number>();

/**
 * What the authenticator app shows: a code of a time step not used before (the current one, or
 * the next within the server's one step of drift). When both were used, the test servers' clock
 * (tests/support/clock.ts) moves on to the next step instead of waiting for it.
 */
export async function totpCode(secret: string): Promise<string> {
  const step = Math.max(Math.floor(testClock.now() / 30_000), (lastSteps.get(secret) ?? 0) + 1);
  const wait = (step - 1) * 30_000 - testClock.now();
  if (wait > 0) testClock.advance(wait + 100);
  lastSteps.set(secret, step);
  return generate({ secret, epoch: step * 30 });
}

/** Turns on a TOTP app for the account with this email, as the account page would; returns the secret. */
export async function enrolTotp(instance: Pick<Services, 'citizens' | 'secondFactors'>, email: string): Promise<string> {
  const citizen = (await instance.citizens.findByEmail(email))!;
  const { secret } = (await instance.secondFactors.enrolment(citizen))!;
  if (!(await instance.secondFactors.confirm(citizen, await totpCode(secret), '127.0.0.1'))) throw new Error('TOTP enrolment failed');
  return secret;
}

/**
 * Staff need a second factor (administrators and counter officers see citizens' data, developers
 * change their services' redirect URIs and keys): the role (a developer's with its unit) and a TOTP app.
 */
export async function grantStaff(
  instance: Pick<Services, 'citizens' | 'secondFactors' | 'staff'>, email: string, role: 'admin' | 'officer' | 'developer', unit?: string,
): Promise<{ id: string; totp: string }> {
  const id = await instance.staff.grant(email, role, 'test', unit);
  return { id, totp: await enrolTotp(instance, email) };
}
