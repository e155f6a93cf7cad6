import { describe, expect, test } from '@jest/globals';
import type { AdapterPayload } from 'oidc-provider';
import { createClientCache } from '../../src/clients/client-cache.js';
import { openPgliteDb } from '../../src/db/pglite.js';

describe('the client cache', () => {
  test('keeps clients that exist, never a client_id nobody has; hands out copies; forgets every view of a client on its notification', async () => {
    const db = await openPgliteDb('memory://');
    try {
      const loads: string[] = [];
      const cache = createClientCache();
      const find = cache.view(async (id) => {
        loads.push(id);
        return id === 'samsat-known' ? ({ client_id: id, grant_types: ['client_credentials'] } as AdapterPayload) : undefined;
      });
      // A second view of the same clients (as the pages' names are): forgotten on the same notification.
      const names: string[] = [];
      const name = cache.view(async (id) => {
        names.push(id);
        return { name: 'Layanan Samsat' };
      });
      await cache.follow(db);
      for (const id of ['samsat-known', 'samsat-known', 'x'.repeat(50_000), 'x'.repeat(50_000)]) await find(id);
      expect(loads.map((id) => id.slice(0, 12))).toEqual(['samsat-known', 'xxxxxxxxxxxx', 'xxxxxxxxxxxx']);

      const first = (await find('samsat-known'))!;
      (first.grant_types as string[]).push('refresh_token');
      expect((await find('samsat-known'))!.grant_types).toEqual(['client_credentials']);
      await name('samsat-known');
      await name('samsat-known');
      expect(names).toEqual(['samsat-known']);

      await db.query("select pg_notify('client_changed', 'samsat-known')");
      await find('samsat-known');
      await name('samsat-known');
      expect(loads.filter((id) => id === 'samsat-known')).toHaveLength(2);
      expect(names).toEqual(['samsat-known', 'samsat-known']);
    } finally {
      await db.close();
    }
  });
});
