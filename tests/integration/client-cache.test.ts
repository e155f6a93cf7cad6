import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { LISTENER_NAME } from '../../src/db/pg.js';
import { createWebClient } from '../support/fixtures.js';
import { outcomeAfterChange, relyingParty, tokenOutcome } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The provider's clients are held in memory (src/clients/client-cache.ts). Every change below is
 * made with SQL straight to the database, as another server process, the operator CLI or psql
 * would make it: nothing in this process is told, except by the database's notification.
 */
const onPostgres = process.env.DATABASE_URL ? test : test.skip;

describe('clients held in memory', () => {
  let server: TestServer;
  const sql = (text: string, params: unknown[] = []) => server.testDb.db.query(text, params);

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  test('the client is read from memory: a change that is not announced is not seen', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    expect(await tokenOutcome(rp)).toBe('ok');
    await sql('alter table clients disable trigger clients_changed');
    try {
      await sql("update clients set status = 'suspended' where client_id = $1", [clientId]);
      expect(await tokenOutcome(rp)).toBe('ok');
    } finally {
      await sql('alter table clients enable trigger clients_changed');
    }
  });

  test('a suspension applies within moments, though the client was held in memory', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    expect(await tokenOutcome(rp)).toBe('ok');
    await sql("update clients set status = 'suspended' where client_id = $1", [clientId]);
    expect(await outcomeAfterChange(rp, 'ok')).toBe('invalid_client');

    await sql("update clients set status = 'active' where client_id = $1", [clientId]);
    expect(await outcomeAfterChange(rp, 'invalid_client')).toBe('ok');
  });

  test('a replaced secret stops working within moments', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const other = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    expect(await tokenOutcome(rp)).toBe('ok');
    // The other client's sealed secret becomes this one's.
    await sql('update clients set client_secret_enc = (select client_secret_enc from clients where client_id = $2) where client_id = $1', [clientId, other.clientId]);
    expect(await outcomeAfterChange(rp, 'ok')).toBe('invalid_client');
    expect(await tokenOutcome(await relyingParty(server.url, clientId, other.clientSecret))).toBe('ok');
  });

  test('a client_id asked for before the client existed is found once it does', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const row = await sql('delete from clients where client_id = $1 returning *', [clientId]);
    expect(await outcomeAfterChange(rp, 'ok')).toBe('invalid_client');
    const [client] = row.rows as Array<Record<string, unknown>>;
    const columns = Object.keys(client!);
    await sql(
      `insert into clients (${columns.join(', ')}) select * from jsonb_populate_record(null::clients, $1::jsonb)`,
      [JSON.stringify(client)],
    );
    expect(await outcomeAfterChange(rp, 'invalid_client')).toBe('ok');
  });

  onPostgres('when the connection that hears the changes drops, the next request reads the database', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    expect(await tokenOutcome(rp)).toBe('ok');
    const listener = `datname = current_database() and application_name = '${LISTENER_NAME}'`;
    const ended = await sql(`select pg_terminate_backend(pid) from pg_stat_activity where ${listener}`);
    expect(ended.rowCount).toBe(1);
    // Announced while nobody listens: the notification is lost.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sql("update clients set status = 'suspended' where client_id = $1", [clientId]);
    expect(await tokenOutcome(rp)).toBe('invalid_client');

    // It listens again within seconds.
    const deadline = Date.now() + 5000;
    let listening = 0;
    while (listening === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listening = (await sql(`select 1 from pg_stat_activity where ${listener}`)).rowCount;
    }
    expect(listening).toBe(1);
  });
});
