import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { emailedTokensAge, emailsTo, lastEmailTo } from '../support/mail.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  // This file registers and asks for emails many times from one address.
  server = await startTestServer({ IP_LIMIT_REGISTER: '1000' });
});
afterAll(() => server.close());

const BUDI = {
  nik: '3571020512880003',
  name: 'Budi Santoso',
  birth_day: '5',
  birth_month: '12',
  birth_year: '1988',
  email: 'budi@example.id',
  phone: '',
  password: 'sepeda-biru-di-jalan-dhoho',
};

const citizenCount = async () =>
  Number((await server.instance.db.query<{ n: number }>('select count(*)::int as n from citizens')).rows[0]!.n);

async function submit(agent: Agent, fields: Record<string, string>) {
  const page = await agent.request('/daftar');
  const _csrf = csrfTokenOf(await page.text());
  return agent.post('/daftar', { _csrf, password_confirm: fields.password ?? '', privacy: 'ya', ...fields });
}

/** Asks for a new verification email from the code form of this browser. */
async function askAgain(agent: Agent): Promise<Response> {
  const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
  return agent.post('/verifikasi/kirim-ulang', { _csrf });
}

/** The text of the page's status notice. */
const noticeOf = (html: string) => /<div class="notice" role="status">([\s\S]*?)<\/div>/.exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim();

/** The message next to a field, as the form shows it. */
const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error"[^>]*>([\\s\\S]*?)</p>`).exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim();

describe('registration (/daftar)', () => {
  test.each([
    ['nik_format', { nik: '35710205128800' }, 'nik', 'tepat 16 angka'],
    ['nik_province', { nik: '9971020512880003' }, 'nik', 'kode provinsi'],
    ['nik_regency', { nik: '3599020512880003' }, 'nik', 'kabupaten/kota'],
    ['nik_district', { nik: '3571000512880003' }, 'nik', 'kecamatan'],
    ['nik_date', { nik: '3571023212880003' }, 'nik', 'tanggal lahir yang benar'],
    ['nik_serial', { nik: '3571020512880000' }, 'nik', '0000'],
    ['nik_birthdate_mismatch', { birth_day: '6' }, 'nik', 'Tanggal lahir pada NIK tidak cocok'],
    ['birthdate_invalid', { birth_month: '13' }, 'birthdate', 'Tanggal lahir tidak valid'],
    ['name_invalid', { name: 'B' }, 'name', 'Nama lengkap'],
    ['name_invalid', { name: 'Hadiah: buka https://phish.example' }, 'name', 'Nama lengkap'],
    ['email_invalid', { email: 'budi@' }, 'email', 'alamat email'],
    ['phone_invalid', { phone: '12ab' }, 'phone', 'nomor HP'],
    ['password_common', { password: 'password123' }, 'password', 'terlalu umum'],
    ['password_contains_birthdate', { password: 'budi-lahir-05121988' }, 'password', ''],
    ['password_mismatch', { password_confirm: 'something-else-entirely' }, 'password_confirm', 'tidak sama'],
    ['privacy_required', { privacy: '' }, 'privacy', 'pemberitahuan privasi'],
  ])('%s: the form says what is wrong next to the field, and nothing is created', async (_code, change, field, text) => {
    const before = await citizenCount();
    const res = await submit(new Agent(server.url), { ...BUDI, ...change });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain(`href="#${field}"`);
    expect(fieldError(html, field)).toContain(text);
    // Values come back, the password never does.
    expect(html).toContain(`value="${(change as Record<string, string>).name ?? BUDI.name}"`);
    expect(html).not.toContain(BUDI.password);
    expect(await citizenCount()).toBe(before);
  });

  test('over-long values get their own fields\' messages, with the other values kept; only a body past the limit is refused whole', async () => {
    const before = await citizenCount();
    const res = await submit(new Agent(server.url), { ...BUDI, name: 'Budi '.repeat(1000), nik: '3'.repeat(10_000) });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(fieldError(html, 'name')).toContain('Nama lengkap');
    expect(fieldError(html, 'nik')).toContain('tepat 16 angka');
    expect(html).toContain(`value="${BUDI.email}"`);
    expect(html).toContain('name="birth_year" type="text" value="1988"');
    expect(html).not.toContain(BUDI.password);
    expect((await submit(new Agent(server.url), { ...BUDI, name: 'x'.repeat(20_000) })).status).toBe(413);
    expect(await citizenCount()).toBe(before);
  });

  test('a NIK typed as printed on the KTP-el, in groups with spaces, dots or dashes, registers as its 16 digits; other signs are refused', async () => {
    const nik = '3571020512880017';
    const refused = await submit(new Agent(server.url), { ...BUDI, nik: '3571/0205/1288/0017', email: 'budi.grup@example.id' });
    expect(refused.status).toBe(400);
    expect(fieldError(await refused.text(), 'nik')).toContain('tepat 16 angka');
    const res = await submit(new Agent(server.url), { ...BUDI, nik: ' 3571 0205.1288-0017 ', email: 'budi.grup@example.id' });
    expect(res.status).toBe(303);
    expect((await server.instance.citizens.findByNik(nik))?.email).toBe('budi.grup@example.id');
  });

  test('a valid registration creates an unverified account and emails a link and a code; the code verifies it', async () => {
    const agent = new Agent(server.url);
    // With a phone number too: its code goes to the phone, and the emailed code verifies as well.
    const res = await submit(agent, { ...BUDI, phone: '0812 3456 7890' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/verifikasi?dikirim=1');

    const { rows } = await server.instance.db.query<Record<string, unknown>>('select * from citizens where email = $1', [BUDI.email]);
    const row = rows[0]!;
    expect(row).toMatchObject({ name: BUDI.name, gender: 'male', email_verified: false, assurance: 'basic', phone: '+6281234567890', phone_verified: false });
    expect(JSON.stringify(row)).not.toContain(BUDI.nik);

    const email = await lastEmailTo(server.instance.db, BUDI.email);
    expect(email.link).toMatch(new RegExp(`^${server.url}/verifikasi\\?token=`));
    expect(email.code).toMatch(/^\d{6}$/);
    expect(email.body).not.toContain(BUDI.nik);

    const page = await agent.request('/verifikasi?dikirim=1');
    const html = await page.text();
    expect(html).toContain('b***@example.id');
    const _csrf = csrfTokenOf(html);
    const wrong = await agent.post('/verifikasi', { _csrf, code: email.code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    const right = await agent.post('/verifikasi', { _csrf, code: email.code! });
    expect(right.status).toBe(200);
    expect((await server.instance.citizens.findByEmail(BUDI.email))!.email_verified).toBe(true);
    // The code is spent.
    expect((await agent.post('/verifikasi', { _csrf, code: email.code! })).status).toBe(400);
  });

  test('an already registered NIK or email gets one answer that names no account, and the holder is told', async () => {
    await createCitizen(server.instance);
    for (const change of [{ nik: SITI.nik, birth_day: '1', birth_month: '1', birth_year: '1990', email: 'lain@example.id' }, { email: SITI.email }]) {
      const before = await citizenCount();
      const mails = await emailsTo(server.instance.db, SITI.email);
      const res = await submit(new Agent(server.url), { ...BUDI, nik: '3571020512880005', ...change });
      expect(res.status).toBe(409);
      const html = await res.text();
      expect(html).toContain('sudah terdaftar di Kediri ID');
      // Not marked on the NIK or the email field: that would tell which one has an account.
      expect(html).not.toMatch(/id="(nik|email)-error"/);
      expect(html).not.toContain(SITI.name);
      expect(html).not.toContain('s***@');
      expect(await citizenCount()).toBe(before);
      expect(await emailsTo(server.instance.db, SITI.email)).toBe(mails + 1);
    }
  });

  test('the emailed link verifies once, through a button; a used link is refused', async () => {
    const agent = new Agent(server.url);
    const person = { ...BUDI, nik: '3571034708950001', birth_day: '7', birth_month: '8', birth_year: '1995', email: 'rina@example.id', name: 'Rina Wati' };
    expect((await submit(agent, person)).status).toBe(303);
    const { link } = await lastEmailTo(server.instance.db, person.email);
    // Opening the link (as a mail scanner would) changes nothing.
    const landing = await new Agent(server.url).request(link!);
    const html = await landing.text();
    expect(html).toContain('name="token"');
    expect((await server.instance.citizens.findByEmail(person.email))!.email_verified).toBe(false);
    const token = new URL(link!).searchParams.get('token')!;
    const browser = new Agent(server.url);
    const _csrf = csrfTokenOf(await (await browser.request(link!)).text());
    expect((await browser.post('/verifikasi', { _csrf, token })).status).toBe(200);
    expect((await server.instance.citizens.findByEmail(person.email))!.email_verified).toBe(true);
    expect((await browser.post('/verifikasi', { _csrf, token })).status).toBe(400);
  });

  test('wrong codes stop working after five tries, and a resend issues a new code that works', async () => {
    const agent = new Agent(server.url);
    const person = { ...BUDI, nik: '3571016003000002', birth_day: '20', birth_month: '3', birth_year: '2000', email: 'ayu@example.id', name: 'Ayu Lestari' };
    expect((await submit(agent, person)).status).toBe(303);
    const first = await lastEmailTo(server.instance.db, person.email);
    const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
    const wrongCode = first.code === '123456' ? '654321' : '123456';
    for (let i = 0; i < 5; i++) expect((await agent.post('/verifikasi', { _csrf, code: wrongCode })).status).toBe(400);
    expect((await agent.post('/verifikasi', { _csrf, code: first.code! })).status).toBe(400);

    await emailedTokensAge(server.instance.db, person.email, 60);
    const resent = await agent.post('/verifikasi/kirim-ulang', { _csrf });
    expect(resent.status).toBe(303);
    const second = await lastEmailTo(server.instance.db, person.email);
    expect(second.link).not.toBe(first.link);
    expect((await agent.post('/verifikasi', { _csrf, code: second.code! })).status).toBe(200);
  });

  test('a new email is sent at most once a minute: asking again sooner sends none, says how long to wait, and the last code still works', async () => {
    const agent = new Agent(server.url);
    const person = { ...BUDI, nik: '3571015507910003', birth_day: '15', birth_month: '7', birth_year: '1991', email: 'sri@example.id', name: 'Sri Handayani' };
    expect((await submit(agent, person)).status).toBe(303);
    expect(await emailsTo(server.instance.db, person.email)).toBe(1);

    // Right after the registration email: none.
    const soon = await askAgain(agent);
    expect(soon.status).toBe(429);
    expect(Number(soon.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(Number(soon.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    const html = await soon.text();
    expect(noticeOf(html)).toMatch(/^Email verifikasi baru saja kami kirim\. Tunggu \d+ detik sebelum meminta email baru/);
    expect(html).toContain('name="code"');
    expect(await emailsTo(server.instance.db, person.email)).toBe(1);

    // A minute later: one new email; asking again at once: none.
    await emailedTokensAge(server.instance.db, person.email, 60);
    const later = await askAgain(agent);
    expect(later.status).toBe(303);
    expect(later.headers.get('location')).toBe('/verifikasi?dikirim=1');
    expect((await askAgain(agent)).status).toBe(429);
    expect(await emailsTo(server.instance.db, person.email)).toBe(2);

    const { code } = await lastEmailTo(server.instance.db, person.email);
    const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
    expect((await agent.post('/verifikasi', { _csrf, code: code! })).status).toBe(200);
  });

  test('parallel requests for a new email send one', async () => {
    const agent = new Agent(server.url);
    const person = { ...BUDI, nik: '3571016610850001', birth_day: '26', birth_month: '10', birth_year: '1985', email: 'yuni@example.id', name: 'Yuni Astuti' };
    expect((await submit(agent, person)).status).toBe(303);
    await emailedTokensAge(server.instance.db, person.email, 60);
    const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
    const statuses = await Promise.all(Array.from({ length: 6 }, () => agent.post('/verifikasi/kirim-ulang', { _csrf }).then((r) => r.status)));
    expect(statuses.sort()).toEqual([303, 429, 429, 429, 429, 429]);
    expect(await emailsTo(server.instance.db, person.email)).toBe(2);
  });

  test('at most five emails an hour: the sixth waits until the oldest is an hour old', async () => {
    const agent = new Agent(server.url);
    const person = { ...BUDI, nik: '3571024409870002', birth_day: '4', birth_month: '9', birth_year: '1987', email: 'nur@example.id', name: 'Nur Aini' };
    expect((await submit(agent, person)).status).toBe(303);
    for (let i = 0; i < 4; i++) {
      await emailedTokensAge(server.instance.db, person.email, 5 * 60);
      expect((await askAgain(agent)).status).toBe(303);
    }
    // Five emails over the last 20 minutes.
    await emailedTokensAge(server.instance.db, person.email, 60);
    const capped = await askAgain(agent);
    expect(capped.status).toBe(429);
    const wait = Number(capped.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(38 * 60);
    expect(wait).toBeLessThanOrEqual(39 * 60);
    expect(noticeOf(await capped.text())).toMatch(/^Kami sudah beberapa kali mengirim email verifikasi dalam satu jam terakhir\. Tunggu 39 menit/);
    expect(await emailsTo(server.instance.db, person.email)).toBe(5);

    await emailedTokensAge(server.instance.db, person.email, wait);
    expect((await askAgain(agent)).status).toBe(303);
    expect(await emailsTo(server.instance.db, person.email)).toBe(6);
  });

  test('signing in unverified just after registering sends no second email, and the code from the first one verifies', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const person = { ...BUDI, nik: '3571015012930004', birth_day: '10', birth_month: '12', birth_year: '1993', email: 'lina@example.id', name: 'Lina Marlina' };
    expect((await submit(new Agent(server.url), person)).status).toBe(303);
    const { code } = await lastEmailTo(server.instance.db, person.email);

    // Another browser signs in with the right password: on to the code form.
    const agent = new Agent(server.url);
    const { res, url } = await agent.follow((await authorizationRequest(rp)).url);
    const posted = await agent.post(`${url}/login`, { _csrf: csrfTokenOf(await res!.text()), identifier: person.email, password: person.password });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe('/verifikasi?dikirim=1');
    expect(await emailsTo(server.instance.db, person.email)).toBe(1);
    const _csrf = csrfTokenOf(await (await agent.request('/verifikasi?dikirim=1')).text());
    expect((await agent.post('/verifikasi', { _csrf, code: code! })).status).toBe(200);
  });

  describe('once verified, the page leads on', () => {
    /** Registers from the login page of a sign-in under way (or from /daftar alone) and enters the emailed code. */
    async function registerAndVerify(agent: Agent, serial: string, from?: string) {
      const person = { ...BUDI, nik: `357102051288${serial}`, email: `budi${serial}@example.id` };
      expect((await submit(agent, { ...person, lanjut: from ?? '' })).status).toBe(303);
      const { code } = await lastEmailTo(server.instance.db, person.email);
      return { verify: async () => {
        const _csrf = csrfTokenOf(await (await agent.request('/verifikasi')).text());
        const verified = await agent.post('/verifikasi', { _csrf, code: code! });
        expect(verified.status).toBe(200);
        return verified.text();
      } };
    }

    /** A sign-in under way at a service in this browser: its login page's path (/interaction/UID). */
    async function signInUnderWay(agent: Agent, name: string) {
      const { clientId, clientSecret } = await createWebClient(server.instance, { name });
      const rp = await relyingParty(server.url, clientId, clientSecret);
      const { url } = await agent.follow((await authorizationRequest(rp)).url);
      return { clientId, path: new URL(url).pathname };
    }

    test('back into the sign-in it began in, while that is under way', async () => {
      const agent = new Agent(server.url);
      const { path } = await signInUnderWay(agent, 'Layanan Perizinan Online');
      const { verify } = await registerAndVerify(agent, '0011', path);
      const html = await verify();
      expect(html).toContain('Lanjutkan masuk ke Layanan Perizinan Online.');
      expect(html).toContain(`<a class="button" href="${path}"`);
      const { res, url } = await agent.follow(path);
      expect(new URL(url).pathname).toBe(path);
      expect(await res!.text()).toContain('name="password"');
    });

    test('to the service\'s own sign-in once that sign-in has expired', async () => {
      const agent = new Agent(server.url);
      const { clientId, path } = await signInUnderWay(agent, 'Layanan Beasiswa');
      const { verify } = await registerAndVerify(agent, '0012', path);
      await server.instance.db.query("update oidc_payloads set expires_at = now() - interval '1 second' where model = 'Interaction' and id = $1", [path.split('/')[2]]);
      const html = await verify();
      expect(html).toContain(`<a class="button" href="/layanan/masuk/${clientId}" role="button" draggable="false">Kembali ke Layanan Beasiswa</a>`);
      expect(html).not.toContain(path);
      // The service has no initiate_login_uri: its home, the origin of its redirect URI.
      expect((await agent.follow(`/layanan/masuk/${clientId}`)).url).toBe('http://127.0.0.1:9/');
    });

    test('to the account and the home page when it began at no service', async () => {
      const agent = new Agent(server.url);
      const { verify } = await registerAndVerify(agent, '0013');
      const html = await verify();
      expect(html).toContain('<a class="button" href="/akun" role="button" draggable="false">Buka Akun saya</a>');
      expect(html).toContain('<a class="link" href="/">Ke beranda Kediri ID</a>');
      // "Akun saya" asks the new account to sign in.
      const { res, url } = await agent.follow('/akun');
      expect(url).toMatch(/\/interaction\//);
      expect(await res!.text()).toContain('name="password"');
    });
  });

  test('forms refuse a POST without the CSRF token', async () => {
    const agent = new Agent(server.url);
    await agent.request('/daftar');
    for (const path of ['/daftar', '/verifikasi', '/verifikasi/kirim-ulang', '/lupa-sandi', '/lupa-sandi/atur']) {
      expect((await agent.post(path, { ...BUDI, password_confirm: BUDI.password, privacy: 'ya' })).status).toBe(403);
    }
  });
});
