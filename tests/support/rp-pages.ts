import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A relying party's browser-facing side: /, /callback and /signed-out answer a small HTML page; the
 * bodies posted to /callback (response_mode=form_post) are kept in `posted`.
 */
export async function startRelyingPartyPages(): Promise<{ origin: string; posted: string[]; close(): Promise<void> }> {
  const posted: string[] = [];
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://rp').pathname;
    if (req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      posted.push(body);
    }
    if (path === '/' || path === '/callback' || path === '/signed-out') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html lang="id"><head><meta charset="utf-8"><title>Layanan</title></head><body><p>Kembali di layanan.</p></body></html>');
      return;
    }
    res.writeHead(path === '/favicon.ico' ? 204 : 404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posted,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
