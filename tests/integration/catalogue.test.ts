/**
 * The service catalogue: the public page (/layanan) with its search and unit filter as plain GET
 * forms, online entries hidden while their client is not active; the administrators' pages
 * (/admin/katalog) with CSRF, the role guard and the audit; the import's checks, all or nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient, grantStaff } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { readCatalogueCsv } from '../../src/clients/catalogue-csv.js';

const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@dukcapil.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
const ADMIN = { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' };

let server: TestServer;
let admin: Agent;
let _csrf: string;
let akta: string;
let suspended: string;
let otherUnit: string;
let devTotp: string;

const entry = (fields: Partial<Record<string, string>>) => ({
  unit: 'dispendukcapil',
  name: 'Akta Kelahiran',
  description_id: 'Mengurus akta kelahiran anak secara online.',
  description_en: 'Apply for a child\'s birth certificate online.',
  kind: 'online',
  client_id: akta,
  acr: 'urn:kediri:acr:verified',
  ...fields,
});

const page = async (path: string, agent = new Agent(server.url)) => {
  const res = await agent.request(path);
  return { status: res.status, html: await res.text() };
};

const auditTypes = async () =>
  (await server.instance.db.query<{ type: string }>("select type from audit_events where type like 'catalogue.%' order by id")).rows.map((r) => r.type);

beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, ADMIN);
  await createCitizen(server.instance, DEV);
  devTotp = (await grantStaff(server.instance, DEV.email, 'developer', 'dispendukcapil')).totp;
  const { totp } = await grantStaff(server.instance, ADMIN.email, 'admin');
  akta = (await createWebClient(server.instance, { unit: 'dispendukcapil', name: 'Layanan Akta' })).clientId;
  suspended = (await createWebClient(server.instance, { unit: 'dispendukcapil', name: 'Layanan KK' })).clientId;
  otherUnit = (await createWebClient(server.instance, { unit: 'bppkad', name: 'Pajak Daerah' })).clientId;
  admin = new Agent(server.url);
  const landed = await signIn(admin, (await admin.request('/admin')).headers.get('location')!, ADMIN.email, ADMIN.password, { totp });
  expect((await admin.follow(landed)).res!.status).toBe(200);
  _csrf = csrfTokenOf((await page('/admin/katalog/baru', admin)).html);
});
afterAll(() => server.close());

describe('administrators manage the catalogue', () => {
  test('an online entry needs an active client of the same unit; the form says what is wrong (400), nothing is added', async () => {
    for (const [fields, message] of [
      [{ client_id: otherUnit }, 'Klien itu tidak aktif atau bukan milik unit ini.'],
      [{ client_id: '' }, 'Layanan online harus terikat pada klien aktif'],
      [{ kind: 'counter' }, 'Layanan di loket MPP tidak terikat pada klien'],
      [{ name: '' }, 'Tulis nama layanan.'],
      [{ acr: 'urn:kediri:acr:gold' }, 'Pilih tingkat akun yang diperlukan.'],
      [{ description_en: 'x'.repeat(201) }, 'paling banyak 200 karakter'],
      // Pasted far past the limit: still the field's own message, not the page for a broken form.
      [{ description_en: 'x'.repeat(5000) }, 'paling banyak 200 karakter'],
      [{ unit: 'no-such-unit' }, 'Pilih unit yang terdaftar.'],
    ] as const) {
      const res = await admin.post('/admin/katalog/baru', { _csrf, ...entry(fields) });
      expect({ fields, status: res.status }).toEqual({ fields, status: 400 });
      expect(await res.text()).toContain(message);
    }
    expect(await server.instance.catalogue.all()).toEqual([]);
  });

  test('without the CSRF token a change is refused (403)', async () => {
    expect((await admin.post('/admin/katalog/baru', entry({}))).status).toBe(403);
    expect(await server.instance.catalogue.all()).toEqual([]);
  });

  test('create, list, edit and delete, each audited', async () => {
    expect((await admin.post('/admin/katalog/baru', { _csrf, ...entry({}) })).status).toBe(303);
    expect((await admin.post('/admin/katalog/baru', { _csrf, ...entry({ name: 'Akta Kelahiran' }) })).status).toBe(400);
    expect((await admin.post('/admin/katalog/baru', { _csrf, ...entry({ name: 'Kartu Keluarga', client_id: suspended, description_id: 'Kartu keluarga baru atau perubahan.', description_en: 'A new or changed family card.' }) })).status).toBe(303);
    expect((await admin.post('/admin/katalog/baru', {
      _csrf,
      ...entry({ unit: 'samsat', name: 'Pajak Kendaraan Tahunan', kind: 'counter', client_id: '', acr: 'urn:kediri:acr:basic', description_id: 'Bayar pajak kendaraan, tunai atau nontunai.', description_en: 'Pay the yearly vehicle tax, cash or cashless.' }),
    })).status).toBe(303);
    const list = await page('/admin/katalog', admin);
    expect(list.html).toContain('Akta Kelahiran');
    expect(list.html).toContain('Pajak Kendaraan Tahunan');

    const id = (await server.instance.catalogue.all()).find((e) => e.name === 'Akta Kelahiran')!.id;
    expect((await page(`/admin/katalog/${id}`, admin)).html).toContain('value="Akta Kelahiran"');
    expect((await admin.post(`/admin/katalog/${id}`, { _csrf, ...entry({ name: 'Akta Kelahiran Anak', position: 'satu' }) })).status).toBe(400);
    expect((await admin.post(`/admin/katalog/${id}`, { _csrf, ...entry({ name: 'Akta Kelahiran Anak', position: '0' }) })).status).toBe(303);
    expect((await server.instance.catalogue.get(id))!.name).toBe('Akta Kelahiran Anak');

    const gone = (await server.instance.catalogue.all()).find((e) => e.name === 'Pajak Kendaraan Tahunan')!.id;
    expect((await admin.post(`/admin/katalog/${gone}/hapus`, { _csrf })).status).toBe(303);
    expect((await admin.post(`/admin/katalog/${gone}/hapus`, { _csrf })).status).toBe(400);
    expect((await admin.post('/admin/katalog/not-an-id', { _csrf, ...entry({ position: '1' }) })).status).toBe(400);
    expect(await auditTypes()).toEqual(['catalogue.entry_created', 'catalogue.entry_created', 'catalogue.entry_created', 'catalogue.entry_updated', 'catalogue.entry_deleted']);
  });

  test('a citizen without the admin role cannot see or change the catalogue (403)', async () => {
    const citizen = new Agent(server.url);
    const landed = await signIn(citizen, (await citizen.request('/akun')).headers.get('location')!, SITI.email, SITI.password);
    const html = await (await citizen.follow(landed)).res!.text();
    expect((await citizen.request('/admin/katalog')).status).toBe(403);
    expect((await citizen.post('/admin/katalog/baru', { _csrf: csrfTokenOf(html), ...entry({ name: 'Layanan Palsu' }) })).status).toBe(403);
  });
});

describe('the public catalogue (/layanan)', () => {
  test('lists every unit with its services, in Indonesian and in English, with "Masuk" for an online one', async () => {
    await server.instance.catalogue.create(
      { unit: 'samsat', name: 'Pajak Kendaraan Tahunan', description_id: 'Bayar pajak kendaraan, tunai atau nontunai.', description_en: 'Pay the yearly vehicle tax, cash or cashless.', kind: 'counter', client_id: '', acr: 'urn:kediri:acr:basic' },
      'test',
    );
    const id = (await page('/layanan')).html;
    for (const text of ['Dispendukcapil', 'Bank Jatim', 'Akta Kelahiran Anak', 'Mengurus akta kelahiran anak secara online.', 'Di loket MPP', 'Bayar pajak kendaraan', 'akun dengan identitas terverifikasi']) expect(id).toContain(text);
    // "Masuk" opens the service through its initiate_login_uri (src/web/initiate-login-routes.ts).
    const clientId = (await server.instance.catalogue.all()).find((e) => e.name === 'Akta Kelahiran Anak')!.clientId!;
    expect(id).toContain(`href="/layanan/masuk/${encodeURIComponent(clientId)}"`);
    const en = new Agent(server.url);
    const english = (await page('/layanan?lang=en', en)).html;
    expect(english).toContain('Apply for a child&#39;s birth certificate online.');
    expect(english).toContain('At the MPP counter');
  });

  test('an online entry whose client is not active is not listed (and is again once reactivated)', async () => {
    expect((await page('/layanan')).html).toContain('Kartu Keluarga');
    await server.instance.clientRequests.setStatus(suspended, 'suspended', 'test', '127.0.0.1');
    expect((await page('/layanan')).html).not.toContain('Kartu Keluarga');
    expect((await page('/admin/katalog', admin)).html).toContain('tidak tampil: klien tidak aktif');
    await server.instance.clientRequests.setStatus(suspended, 'active', 'test', '127.0.0.1');
    expect((await page('/layanan')).html).toContain('Kartu Keluarga');
  });

  test('searches name and descriptions in any case, and filters by unit, with plain GET parameters', async () => {
    const found = (await page('/layanan?q=KENDARAAN')).html;
    expect(found).toContain('Pajak Kendaraan Tahunan');
    expect(found).not.toContain('Akta Kelahiran Anak');
    expect(found).toContain('1 layanan ditemukan untuk &quot;KENDARAAN&quot;.');
    expect((await page('/layanan?q=birth%20certificate')).html).toContain('Akta Kelahiran Anak');
    const none = await page('/layanan?q=paspor');
    expect(none.status).toBe(200);
    expect(none.html).toContain('Tidak ada layanan yang cocok.');
    const unit = (await page('/layanan?unit=samsat')).html;
    expect(unit).toContain('Pajak Kendaraan Tahunan');
    expect(unit).not.toContain('Akta Kelahiran Anak');
    expect(unit).toContain('<option value="samsat" selected>');
    // Odd input is answered with the page, never a fault; a NUL with 400, as on every page.
    for (const odd of ['/layanan?q=%25_%5C', '/layanan?q=a&q=b', `/layanan?q=${'x'.repeat(500)}`, '/layanan?unit=nowhere']) expect((await page(odd)).status).toBe(200);
    expect((await page('/layanan?q=%00')).status).toBe(400);
  });
});

describe('the import', () => {
  const header = 'unit,name,description_id,description_en,kind,client_id,acr';

  test('a bad line refuses the whole file; each problem names its line', async () => {
    const before = (await server.instance.catalogue.all()).length;
    const text = [
      header,
      'bppkad,"Pajak Bumi dan Bangunan","Bayar PBB, cek tagihan","Pay property tax, check the bill",counter,,urn:kediri:acr:basic',
      `dispendukcapil,KTP-el,Cetak ulang KTP-el,Reprint an identity card,online,${otherUnit},urn:kediri:acr:verified`,
      'nowhere,Layanan,Keterangan,Description,counter,,urn:kediri:acr:basic',
    ].join('\n');
    const read = readCatalogueCsv(text);
    const result = await server.instance.catalogue.importLines(read.lines, 'test');
    expect(result.imported).toBe(0);
    expect(result.problems.map((p) => [p.line, p.error.code])).toEqual([[3, 'catalogue_client_invalid'], [4, 'catalogue_unit_unknown']]);
    expect((await server.instance.catalogue.all()).length).toBe(before);
  });

  test('a good file is added in one go, after what each unit lists', async () => {
    const text = `${header}\r\nbppkad,"Pajak Bumi dan Bangunan","Bayar PBB, cek tagihan","Pay property tax, check the bill",counter,,urn:kediri:acr:basic\r\n`;
    const read = readCatalogueCsv(text);
    expect(read.problems).toEqual([]);
    expect(await server.instance.catalogue.importLines(read.lines, 'test')).toEqual({ imported: 1, problems: [] });
    const added = (await server.instance.catalogue.all()).find((e) => e.name === 'Pajak Bumi dan Bangunan')!;
    expect(added).toMatchObject({ unit: 'bppkad', descriptionId: 'Bayar PBB, cek tagihan', kind: 'counter', clientId: null });
    expect((await auditTypes()).at(-1)).toBe('catalogue.imported');
  });
});

describe('unit developers propose the text, administrators approve it', () => {
  let developer: Agent;
  let devCsrf: string;

  beforeAll(async () => {
    developer = new Agent(server.url);
    const landed = await signIn(developer, (await developer.request('/developer')).headers.get('location')!, DEV.email, DEV.password, { totp: devTotp });
    const home = await developer.follow(landed);
    expect(home.res!.status).toBe(200);
    devCsrf = csrfTokenOf((await page(`/developer/katalog/${akta}`, developer)).html);
  });

  const proposal = (fields: Record<string, string> = {}) => ({
    _csrf: devCsrf,
    entry_id: '',
    name: 'Surat Pindah',
    description_id: 'Mengurus surat keterangan pindah domisili.',
    description_en: 'Apply for a change of residence letter.',
    acr: 'urn:kediri:acr:verified',
    ...fields,
  });

  test('the developer sees their unit\'s active clients only, and cannot propose for another unit\'s client (404)', async () => {
    const list = (await page('/developer/katalog', developer)).html;
    expect(list).toContain(`/developer/katalog/${akta}`);
    expect(list).not.toContain(otherUnit);
    expect((await developer.post(`/developer/katalog/${otherUnit}`, proposal())).status).toBe(404);
    expect((await developer.post(`/developer/katalog/${akta}`, proposal({ name: '' }))).status).toBe(400);
  });

  test('a new entry proposed is not shown until an administrator approves it; one proposal waits per client', async () => {
    expect((await developer.post(`/developer/katalog/${akta}`, proposal())).status).toBe(303);
    const again = await developer.post(`/developer/katalog/${akta}`, proposal({ name: 'Surat Pindah Datang' }));
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('sudah memiliki usulan yang menunggu');
    expect((await page('/layanan')).html).not.toContain('Surat Pindah');
    const queue = (await page('/admin/katalog', admin)).html;
    expect(queue).toContain('Mengurus surat keterangan pindah domisili.');
    const [pending] = await server.instance.catalogueProposals.pending();
    expect((await admin.post(`/admin/katalog/usulan/${pending!.id}/setujui`, { _csrf })).status).toBe(303);
    expect((await admin.post(`/admin/katalog/usulan/${pending!.id}/setujui`, { _csrf })).status).toBe(400);
    const shown = (await page('/layanan')).html;
    expect(shown).toContain('Surat Pindah');
    expect(shown).toContain('Mengurus surat keterangan pindah domisili.');
  });

  test('a change to a listed entry, rejected with a reason the developer sees; the text stays', async () => {
    const entry = (await server.instance.catalogue.all()).find((e) => e.name === 'Surat Pindah')!;
    expect((await developer.post(`/developer/katalog/${akta}`, proposal({ entry_id: entry.id, description_id: 'Teks baru yang keliru.' }))).status).toBe(303);
    const [pending] = await server.instance.catalogueProposals.pending();
    expect(pending!.current?.id).toBe(entry.id);
    expect((await admin.post(`/admin/katalog/usulan/${pending!.id}/tolak`, { _csrf, reason: 'x' })).status).toBe(400);
    expect((await admin.post(`/admin/katalog/usulan/${pending!.id}/tolak`, { _csrf, reason: 'Keterangan kurang jelas.' })).status).toBe(303);
    expect((await server.instance.catalogue.get(entry.id))!.descriptionId).toBe('Mengurus surat keterangan pindah domisili.');
    expect((await page('/developer/katalog', developer)).html).toContain('ditolak: Keterangan kurang jelas.');
    expect((await auditTypes()).filter((t) => t.startsWith('catalogue.proposal'))).toEqual([
      'catalogue.proposal_submitted', 'catalogue.proposal_approved', 'catalogue.proposal_submitted', 'catalogue.proposal_rejected',
    ]);
  });

  test('nobody approves their own proposal: a developer who is an administrator too needs another administrator', async () => {
    const author = (await server.instance.citizens.findByEmail(DEV.email))!.id;
    const submitted = await server.instance.catalogueProposals.submit({
      clientId: otherUnit, entryId: '', name: 'Pajak Hotel', description_id: 'Bayar pajak hotel secara online.',
      description_en: 'Pay the hotel tax online.', acr: 'urn:kediri:acr:basic',
    }, author);
    if (!('id' in submitted)) throw new Error('not submitted');
    await expect(server.instance.catalogueProposals.approve(submitted.id, author)).rejects.toMatchObject({ code: 'own_request' });
    expect((await server.instance.catalogue.all()).some((e) => e.name === 'Pajak Hotel')).toBe(false);
  });
});
