/**
 * Does asking for a phone code tell whether a number has an account? Times the POST that starts a
 * code sign-in, a password reset by phone and a registration, for a number that is an account's
 * verified number and for one that is nobody's, alternating, and prints the figures.
 *
 *   npm run bench:phone-timing            (embedded database; DATABASE_URL for PostgreSQL)
 *   ROUNDS=100 npm run bench:phone-timing
 */
import { performance } from 'node:perf_hooks';
import { seededCitizen } from '../src/identity/seed.js';
import { Agent, csrfTokenOf } from '../tests/support/agent.js';
import { createCitizen, createWebClient } from '../tests/support/fixtures.js';
import { authorizationRequest, relyingParty } from '../tests/support/rp.js';
import { startTestServer } from '../tests/support/server.js';

const rounds = Number(process.env.ROUNDS ?? 40);
const KNOWN = '+6281200000001';
const UNKNOWN = ['+6281200000002', '+6281200000003', '+6281200000004'];
// Every limit out of the way: each request must reach the code. The production argon2id
// parameters, since a registration hashes its password whichever number it gives.
const server = await startTestServer({
  IP_LIMIT_MESSAGE: '1000000', IP_LIMIT_RESET: '1000000', IP_LIMIT_REGISTER: '1000000', IP_LIMIT_CODE: '1000000',
  MESSAGE_DAILY_BUDGET: '1000000', ARGON2_MEMORY_KIB: '19456', ARGON2_TIME_COST: '2',
});
try {
  const { db } = server.instance;
  const holder = await createCitizen(server.instance);
  await db.transaction((tx) => server.instance.citizens.setVerifiedPhone(tx, holder.id, KNOWN));
  const { clientId, clientSecret } = await createWebClient(server.instance);
  const rp = await relyingParty(server.url, clientId, clientSecret);
  /** The limits per number would hold the next code back: as if the last ones were a day old. */
  const forgetCodes = () => db.query("update phone_codes set created_at = created_at - interval '1 day'");

  /** Times one POST from a fresh browser; `open` loads the form and returns where to post and its CSRF token. */
  async function timed(open: (agent: Agent) => Promise<{ url: string; _csrf: string }>, fields: Record<string, string>): Promise<number> {
    const agent = new Agent(server.url);
    const { url, _csrf } = await open(agent);
    const start = performance.now();
    const res = await agent.post(url, { _csrf, ...fields });
    await res.text();
    const ms = performance.now() - start;
    if (res.status !== 303) throw new Error(`expected 303 from ${url}, got ${res.status}`);
    await forgetCodes();
    return ms;
  }

  const signInForm = async (agent: Agent) => {
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    await res!.text();
    const form = await agent.request(`${url}/kode`);
    return { url: `${url}/kode`, _csrf: csrfTokenOf(await form.text()) };
  };
  const pageForm = (path: string) => async (agent: Agent) => ({ url: path, _csrf: csrfTokenOf(await (await agent.request(path)).text()) });
  let registrations = 0;
  const registration = (phone: string) => {
    const person = seededCitizen(500_000 + registrations++);
    const [year, month, day] = person.birthdate.split('-');
    return {
      nik: person.nik, name: 'Warga Uji', birth_day: String(Number(day)), birth_month: String(Number(month)), birth_year: year!,
      phone, channel: 'whatsapp', email: '', password: 'gethuk-pisang-dari-kediri', password_confirm: 'gethuk-pisang-dari-kediri', privacy: 'ya',
    };
  };

  const flows = {
    'code sign-in': (phone: string) => timed(signInForm, { phone, channel: 'whatsapp' }),
    'password reset': (phone: string) => timed(pageForm('/lupa-sandi'), { contact: phone, channel: 'whatsapp' }),
    registration: (phone: string) => timed(pageForm('/daftar'), registration(phone)),
  };

  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { median: at(0.5), p90: at(0.9), mean: values.reduce((a, b) => a + b, 0) / values.length };
  };
  const row = (name: string, s: ReturnType<typeof stats>) =>
    `  ${name.padEnd(16)} median ${s.median.toFixed(1).padStart(7)} ms   p90 ${s.p90.toFixed(1).padStart(7)} ms   mean ${s.mean.toFixed(1).padStart(7)} ms`;

  console.log(`phone code request timing, ${rounds} rounds each, ${db.driver}`);
  for (const [name, flow] of Object.entries(flows)) {
    const known: number[] = [];
    const unknown: number[] = [];
    await flow(UNKNOWN[0]!); // warm-up
    for (let i = 0; i < rounds; i++) {
      known.push(await flow(KNOWN));
      unknown.push(await flow(UNKNOWN[i % UNKNOWN.length]!));
    }
    const a = stats(known);
    const b = stats(unknown);
    console.log(name);
    console.log(row('known number', a));
    console.log(row('unknown number', b));
    console.log(`  median difference ${(b.median - a.median).toFixed(1)} ms (${(((b.median - a.median) / a.median) * 100).toFixed(1)} %)`);
  }
} finally {
  await server.close();
}
