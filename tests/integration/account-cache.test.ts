import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The accounts the provider's requests read are held in memory (citizens.current). Every change
 * below is made with SQL straight to the database, as another server process or psql would make
 * it: nothing in this process is told, except by the database's notification (migration 022).
 */
describe('accounts held in memory for the provider', () => {
  let server: TestServer;
  let rp: oidc.Configuration;
  let citizenId: string;
  const sql = (text: string, params: unknown[] = []) => server.testDb.db.query(text, params);

  beforeAll(async () => {
    server = await startTestServer();
    citizenId = (await createCitizen(server.instance)).id;
    const client = await createWebClient(server.instance);
    rp = await relyingParty(server.url, client.clientId, client.clientSecret);
  });
  afterAll(() => server?.close());

  /** userinfo's name, or the error the relying party gets. */
  async function userinfoName(accessToken: string): Promise<string> {
    try {
      return String((await oidc.fetchUserInfo(rp, accessToken, oidc.skipSubjectCheck)).name);
    } catch (error) {
      const refusal = error as { error?: string; cause?: Array<{ parameters?: { error?: string } }> };
      return `error: ${refusal.error ?? refusal.cause?.[0]?.parameters?.error}`;
    }
  }

  /** userinfo's answer once it differs from `from`, or `from` after two seconds (the change was missed). */
  async function answerAfterChange(accessToken: string, from: string): Promise<string> {
    const deadline = Date.now() + 2000;
    let answer = await userinfoName(accessToken);
    while (answer === from && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      answer = await userinfoName(accessToken);
    }
    return answer;
  }

  test('the account is read from memory: a change that is not announced is not seen', async () => {
    const { access_token } = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile' });
    expect(await userinfoName(access_token)).toBe(SITI.name);
    await sql('alter table citizens disable trigger citizens_changed');
    try {
      await sql("update citizens set name = 'Nama Tanpa Kabar' where id = $1", [citizenId]);
      expect(await userinfoName(access_token)).toBe(SITI.name);
    } finally {
      await sql('update citizens set name = $2 where id = $1', [citizenId, SITI.name]);
      await sql('alter table citizens enable trigger citizens_changed');
    }
  });

  test('a changed name reaches userinfo within moments', async () => {
    const { access_token } = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile' });
    expect(await userinfoName(access_token)).toBe(SITI.name);
    await sql("update citizens set name = 'Siti Aminah Rahayu' where id = $1", [citizenId]);
    expect(await answerAfterChange(access_token, SITI.name)).toBe('Siti Aminah Rahayu');
    await sql('update citizens set name = $2 where id = $1', [citizenId, SITI.name]);
    expect(await answerAfterChange(access_token, 'Siti Aminah Rahayu')).toBe(SITI.name);
  });

  test('a locked account (another process locked it) gets nothing from its tokens within moments', async () => {
    const { access_token } = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile' });
    expect(await userinfoName(access_token)).toBe(SITI.name);
    await sql("update citizens set status = 'locked' where id = $1", [citizenId]);
    try {
      expect(await answerAfterChange(access_token, SITI.name)).toBe('error: invalid_token');
    } finally {
      await sql("update citizens set status = 'active' where id = $1", [citizenId]);
    }
  });
});
