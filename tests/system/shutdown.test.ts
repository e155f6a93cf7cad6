import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { SITI } from '../support/fixtures.js';
import { createClientByCli, createSitiByCli, processEnvironment, startServe } from '../support/process.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';

/**
 * SIGTERM while a login is under way: the login finishes, new connections are refused, the
 * process exits 0. The login is made slow (argon2id at 40 iterations) so that it is surely under
 * way when the signal comes.
 */
describe('graceful shutdown', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;

  beforeAll(async () => {
    setup = await processEnvironment({ ARGON2_MEMORY_KIB: '19456', ARGON2_TIME_COST: '40' });
  });
  afterAll(() => setup?.cleanup());

  test('a request under way when SIGTERM comes is answered; then the port is closed and the exit status is 0', async () => {
    const { clientId, clientSecret } = await createClientByCli(setup.env);
    await createSitiByCli(setup.env);
    const served = await startServe(setup.env);
    const exited = new Promise<number | null>((resolve) => served.child.once('exit', (code) => resolve(code)));

    const rp = await relyingParty(setup.issuer, clientId, clientSecret);
    const agent = new Agent(setup.issuer);
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    const _csrf = csrfTokenOf(await res!.text());
    const started = Date.now();
    const login = agent.post(`${url}/login`, { _csrf, identifier: SITI.email, password: SITI.password });
    await new Promise((resolve) => setTimeout(resolve, 100));
    served.child.kill('SIGTERM');

    const answered = await login;
    expect({ status: answered.status, location: answered.headers.get('location') }).toMatchObject({ status: 303, location: expect.stringContaining('/auth/') });
    expect(Date.now() - started).toBeGreaterThan(100);
    expect(await exited).toBe(0);
    await expect(fetch(`${setup.issuer}/healthz`)).rejects.toThrow();
  });
});
