/**
 * Does a login attempt tell whether an account exists? Times the login POST for a wrong password
 * on a real account and for an unknown email, alternating, and prints the figures.
 *
 *   npm run bench:login-timing            (embedded database; DATABASE_URL for PostgreSQL)
 *   ROUNDS=100 npm run bench:login-timing
 */
import { performance } from 'node:perf_hooks';
import { Agent, csrfTokenOf } from '../tests/support/agent.js';
import { SITI, createCitizen, createWebClient } from '../tests/support/fixtures.js';
import { authorizationRequest, relyingParty } from '../tests/support/rp.js';
import { startTestServer } from '../tests/support/server.js';

const rounds = Number(process.env.ROUNDS ?? 40);
// Lockout off for the measurement: every attempt must reach the password check.
// The production argon2id parameters: the test server's cheap ones would hide what is measured.
const server = await startTestServer({ LOCKOUT_FAILURES: '100', LOGIN_MAX_DELAY_SECONDS: '0', IP_LIMIT_LOGIN: '100000', ARGON2_MEMORY_KIB: '19456', ARGON2_TIME_COST: '2' });
try {
  await createCitizen(server.instance);
  const { clientId, clientSecret } = await createWebClient(server.instance);
  const rp = await relyingParty(server.url, clientId, clientSecret);

  async function timeAttempt(identifier: string): Promise<number> {
    const agent = new Agent(server.url);
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    const _csrf = csrfTokenOf(await res!.text());
    const start = performance.now();
    const posted = await agent.post(`${url}/login`, { _csrf, identifier, password: 'bukan-kata-sandinya' });
    await posted.text();
    const ms = performance.now() - start;
    if (posted.status !== 400) throw new Error(`expected 400, got ${posted.status}`);
    return ms;
  }

  const wrongPassword: number[] = [];
  const unknownAccount: number[] = [];
  await timeAttempt(SITI.email); // warm-up
  for (let i = 0; i < rounds; i++) {
    wrongPassword.push(await timeAttempt(SITI.email));
    unknownAccount.push(await timeAttempt(`tidak-ada-${i % 5}@example.id`));
  }

  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { median: at(0.5), p90: at(0.9), mean: values.reduce((a, b) => a + b, 0) / values.length };
  };
  const a = stats(wrongPassword);
  const b = stats(unknownAccount);
  const row = (name: string, s: ReturnType<typeof stats>) =>
    `${name.padEnd(18)} median ${s.median.toFixed(1).padStart(7)} ms   p90 ${s.p90.toFixed(1).padStart(7)} ms   mean ${s.mean.toFixed(1).padStart(7)} ms`;
  console.log(`login POST timing, ${rounds} rounds each, ${server.instance.db.driver}`);
  console.log(row('wrong password', a));
  console.log(row('unknown account', b));
  console.log(`median difference ${(b.median - a.median).toFixed(1)} ms (${(((b.median - a.median) / a.median) * 100).toFixed(1)} %)`);
} finally {
  await server.close();
}
