import type { Services } from '../../src/services.js';
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

export async function createWebClient(instance: Pick<Services, 'clients'>, overrides: Partial<NewClient> = {}) {
  const created = await instance.clients.createActive(
    {
      unit: 'dispendukcapil',
      name: 'Layanan Akta',
      redirectUris: [CALLBACK],
      postLogoutRedirectUris: [AFTER_LOGOUT],
      scope: 'openid offline_access profile email phone',
      authMethod: 'client_secret_basic',
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      ...overrides,
    },
    'test',
  );
  return { clientId: created.client_id, clientSecret: created.client_secret! };
}
