import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Dukcapil-style population service, speaking the wire format documented at the
 * top of src/identity/population-verifier.ts, on 127.0.0.1 with an in-memory register.
 */

export interface PopulationRecord {
  nik: string;
  name: string;
  birthPlace: string;
  /** YYYY-MM-DD */
  birthdate: string;
}

/**
 * How the service answers: 'normal' checks the register; 'quota' answers the quota RESPON with 200,
 * 'quota-429' answers 429; 'error' answers 500; 'malformed' answers 200 with a body that is not
 * JSON; 'hang' accepts the request and never answers; 'stall' sends the headers and part of the
 * body, then nothing more.
 */
export type PopulationServiceMode = 'normal' | 'quota' | 'quota-429' | 'error' | 'malformed' | 'hang' | 'stall';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface PopulationService {
  url: string;
  mode: PopulationServiceMode;
  /** Requests received so far, whatever the answer (wrong credentials included). */
  readonly requests: number;
  /** The last request received. */
  readonly last: ReceivedRequest | undefined;
  add(record: PopulationRecord): void;
  close(): Promise<void>;
}

/** Compared as the real service would: case and spacing do not matter. */
const fold = (s: string) => s.trim().replace(/\s+/g, ' ').toUpperCase();
const verdict = (ok: boolean) => (ok ? 'Sesuai' : 'Tidak Sesuai');

export async function startPopulationService(options: {
  clientId: string;
  clientSecret: string;
  records?: PopulationRecord[];
}): Promise<PopulationService> {
  const register = new Map<string, PopulationRecord>();
  for (const record of options.records ?? []) register.set(record.nik, record);
  const expected = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`;
  let requests = 0;
  let last: ReceivedRequest | undefined;

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests++;
      last = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
      if (req.headers.authorization !== expected) return send(res, 401, { error: 'unauthorized' });
      switch (service.mode) {
        case 'hang':
          return; // never answers; close() ends the connection
        case 'stall':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"content":[');
          return; // never finishes; close() ends the connection
        case 'error':
          return send(res, 500, { error: 'internal error' });
        case 'malformed':
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end('<html>gateway page</html>');
        case 'quota-429':
          return send(res, 429, { error: 'too many requests' });
        case 'quota':
          return send(res, 200, { content: [{ RESPON: 'Kuota Akses Hari Ini Telah Habis' }] });
        case 'normal':
          break;
      }
      let query: Record<string, unknown>;
      try {
        query = JSON.parse(last.body) as Record<string, unknown>;
      } catch {
        return send(res, 400, { error: 'body is not JSON' });
      }
      const { NIK, NAMA_LGKP, TMPT_LHR, TGL_LHR } = query;
      if (
        typeof NIK !== 'string' ||
        typeof NAMA_LGKP !== 'string' ||
        typeof TMPT_LHR !== 'string' ||
        typeof TGL_LHR !== 'string' ||
        /^\d{2}-\d{2}-\d{4}$/.exec(TGL_LHR) === null
      ) {
        return send(res, 400, { error: 'NIK, NAMA_LGKP, TMPT_LHR and TGL_LHR (DD-MM-YYYY) are required' });
      }
      const record = register.get(NIK);
      if (!record) return send(res, 200, { content: [{ RESPON: 'Data Tidak Ditemukan' }] });
      const [year, month, day] = record.birthdate.split('-');
      return send(res, 200, {
        content: [
          {
            NIK: 'Sesuai',
            NAMA_LGKP: verdict(fold(NAMA_LGKP) === fold(record.name)),
            TMPT_LHR: verdict(fold(TMPT_LHR) === fold(record.birthPlace)),
            TGL_LHR: verdict(TGL_LHR === `${day}-${month}-${year}`),
          },
        ],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const service: PopulationService = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verifikasi`,
    mode: 'normal',
    get requests() {
      return requests;
    },
    get last() {
      return last;
    },
    add(record) {
      register.set(record.nik, record);
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections(); // hung requests and idle keep-alive sockets
      });
    },
  };
  return service;
}
