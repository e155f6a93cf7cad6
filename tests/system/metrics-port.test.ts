import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { value } from '../support/metrics.js';
import { createClientByCli, freePort, processEnvironment, startServe } from '../support/process.js';
import { relyingParty } from '../support/rp.js';

describe('METRICS_PORT', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;

  beforeAll(async () => {
    setup = await processEnvironment({ METRICS_PORT: String(await freePort()), ...(process.env.DATABASE_URL && { WORKERS: '2' }) });
  });
  afterAll(() => setup?.cleanup());

  test('serves the metrics of every server process on its own port (aggregated by the supervisor with WORKERS=2)', async () => {
    const { clientId, clientSecret } = await createClientByCli(setup.env, ['--grant-type', 'client_credentials']);
    const served = await startServe(setup.env);
    try {
      const rp = await relyingParty(setup.issuer, clientId, clientSecret);
      for (let i = 0; i < 3; i++) await oidc.clientCredentialsGrant(rp);
      // The supervisor answers once every server process answers it: the second may still be starting.
      const scrape = () => fetch(`http://127.0.0.1:${setup.env.METRICS_PORT}/metrics`);
      let res = await scrape();
      for (const deadline = Date.now() + 20_000; res.status === 503 && Date.now() < deadline; res = await scrape()) {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(value(text, 'kediri_tokens_issued_total{grant_type="client_credentials"}')).toBe(3);
      expect((await fetch(`${setup.issuer}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${setup.env.METRICS_PORT}/anything-else`)).status).toBe(404);
    } finally {
      await served.stop();
    }
  });
});
