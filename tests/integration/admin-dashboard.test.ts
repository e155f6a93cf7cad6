import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent, signIn } from '../support/agent.js';
import { createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };

/** The admin home: the week's logins per unit, failures and locks, registrations and verifications, as SVG charts with their figures. */
describe('the admin home', () => {
  let server: TestServer;
  let html: string;

  beforeAll(async () => {
    server = await startTestServer();
    await createCitizen(server.instance, ADMIN);
    const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
    const samsat = await createWebClient(server.instance, { unit: 'samsat' });
    const bppkad = await createWebClient(server.instance, { unit: 'bppkad' });
    // The week, written straight into the audit log: n events of a type, for a client, d days ago.
    const events: Array<[string, string | null, number, number]> = [
      ['login.succeeded', samsat.clientId, 0, 3], ['login.succeeded', bppkad.clientId, 0, 1], ['login.succeeded', samsat.clientId, 2, 2],
      ['login.succeeded', samsat.clientId, 8, 50], ['login.failed', samsat.clientId, 1, 4], ['account.locked', null, 1, 1],
      ['citizen.created', null, 3, 2], ['identity.verified', null, 3, 1],
    ];
    for (const [type, clientId, daysAgo, n] of events) {
      await server.testDb.db.query(
        `insert into audit_events (type, client_id, at, details) select $1, $2, now() - make_interval(days => $3::int), '{}' from generate_series(1, $4::int)`,
        [type, clientId, daysAgo, n],
      );
    }
    const agent = new Agent(server.url);
    const start = await agent.request('/admin');
    const landed = await signIn(agent, start.headers.get('location')!, ADMIN.email, ADMIN.password, { totp });
    const { res } = await agent.follow(landed);
    expect(res!.status).toBe(200);
    html = await res!.text();
  });
  afterAll(() => server?.close());

  /** The figures table of the chart with this title: its column heads and its rows of numbers. */
  function figures(title: string) {
    const section = html.slice(html.indexOf(`aria-label="${title}"`));
    const table = section.slice(section.indexOf('<table'), section.indexOf('</table>'));
    const heads = [...table.matchAll(/<th scope="col">([^<]*)<\/th>/g)].map((m) => m[1]);
    const rows = [...table.matchAll(/<tr><th scope="row">\d{1,2} \S+ \d{4}<\/th>((?:<td[^>]*>\d+<\/td>)+)<\/tr>/g)].map((m) => [...m[1]!.matchAll(/<td[^>]*>(\d+)<\/td>/g)].map((d) => Number(d[1])));
    return { heads, rows, svg: section.slice(0, section.indexOf('</svg>')) };
  }

  test('three charts drawn on the server, each named for screen readers, with a legend and its figures', () => {
    expect(html.match(/<svg class="chart"/g)).toHaveLength(3);
    for (const title of ['Masuk yang berhasil per hari, per unit', 'Masuk yang gagal dan akun yang dikunci per hari', 'Pendaftaran dan verifikasi identitas per hari']) {
      expect(html).toContain(`role="img" aria-label="${title}"`);
    }
    expect(html).toMatch(/<li><span class="chart-key chart-\d"><\/span>samsat<\/li>/);
    expect(html).toMatch(/<li><span class="chart-key chart-\d"><\/span>bppkad<\/li>/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toContain('<script>');
  });

  test('the figures of the last seven days (the admin\'s own sign-in and account among them), nothing older', () => {
    const logins = figures('Masuk yang berhasil per hari, per unit');
    expect(logins.heads).toEqual(['Tanggal', 'bppkad', 'Portal Kediri ID', 'samsat', 'Jumlah']);
    expect(logins.rows).toHaveLength(7);
    // Today: 1 bppkad, the admin's own sign-in, 3 samsat; two days ago 2 samsat; the 50 of eight days ago are not there.
    expect(logins.rows.at(-1)).toEqual([1, 1, 3, 5]);
    expect(logins.rows.at(-3)).toEqual([0, 0, 2, 2]);
    expect(logins.rows.reduce((sum, row) => sum + row.at(-1)!, 0)).toBe(7);
    // The tallest bar (today, 5) takes the whole plot, 132 high: samsat's 3 of it are 79; two days ago 2 of 5 are 53.
    expect(logins.svg).toMatch(/height="79"><title>[\d-]+ samsat: 3<\/title>/);
    expect(logins.svg).toMatch(/height="53"><title>[\d-]+ samsat: 2<\/title>/);

    const failures = figures('Masuk yang gagal dan akun yang dikunci per hari');
    expect(failures.rows.at(-2)).toEqual([4, 1, 5]);
    const registrations = figures('Pendaftaran dan verifikasi identitas per hari');
    expect(registrations.rows.at(-4)).toEqual([2, 1, 3]);
    expect(registrations.rows.at(-1)).toEqual([1, 0, 1]);
  });
});
