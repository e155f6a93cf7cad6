/**
 * An example kiosk for the MPP (RFC 8628, the device authorization grant), with openid-client:
 * the screen starts a sign-in, shows the QR code and the user code (page.ts), and polls the token
 * endpoint in the background; once the citizen approved on their phone, the screen greets them
 * by name and offers "Keluar". One sitting at a time, in memory.
 *
 *   ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… npx tsx examples/kiosk/main.ts
 */
import http from 'node:http';
import * as oidc from 'openid-client';
import { kioskScreen } from './page.js';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, PORT = '8090', TITLE = 'Kios Layanan Mandiri MPP', SCOPE = 'openid profile' } = process.env;
if (!ISSUER || !CLIENT_ID || !CLIENT_SECRET) throw new Error('ISSUER, CLIENT_ID and CLIENT_SECRET are required');

// client_secret_basic, as `kediri-id client create` registers by default.
const config = await oidc.discovery(new URL(ISSUER), CLIENT_ID, undefined, oidc.ClientSecretBasic(CLIENT_SECRET), {
  ...(new URL(ISSUER).protocol === 'http:' && { execute: [oidc.allowInsecureRequests] }),
});

type Sitting =
  | { state: 'waiting'; screen: string }
  | { state: 'signed-in'; name: string }
  | { state: 'ended'; reason: string };
let sitting: Sitting | undefined;

/** Starts a sign-in: the screen to show, and the poll that ends it (tokens, access_denied or expired_token). */
async function startSitting(): Promise<void> {
  const started = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
  sitting = { state: 'waiting', screen: await kioskScreen({ title: TITLE, ...started, verification_uri_complete: started.verification_uri_complete! }) };
  oidc.pollDeviceAuthorizationGrant(config, started).then(
    async (tokens) => {
      const claims = tokens.claims()!;
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      sitting = { state: 'signed-in', name: String(userinfo.name ?? claims.sub) };
    },
    (error: unknown) => {
      const code = (error as { error?: string }).error;
      sitting = { state: 'ended', reason: code === 'access_denied' ? 'Dibatalkan di ponsel.' : code === 'expired_token' ? 'Kode kedaluwarsa.' : 'Gagal masuk.' };
    },
  );
}

const page = (body: string) => `<!doctype html><html lang="id"><head><meta charset="utf-8"><title>${TITLE}</title></head><body><main>${body}</main></body></html>`;

http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/keluar') {
      sitting = undefined;
      res.writeHead(303, { location: '/' }).end();
      return;
    }
    if (req.url !== '/') return void res.writeHead(404).end();
    if (!sitting) await startSitting();
    const current = sitting!;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    if (current.state === 'waiting') return void res.end(current.screen);
    const text = current.state === 'signed-in' ? `Selamat datang, ${current.name.replace(/[<>&"]/g, '')}.` : current.reason;
    res.end(page(`<h1>${TITLE}</h1><p>${text}</p><form method="post" action="/keluar"><button>Keluar</button></form>`));
  } catch (error) {
    res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end(`Kediri ID tidak dapat dihubungi: ${(error as Error).message}`);
  }
}).listen(Number(PORT), () => console.log(`kiosk on http://localhost:${PORT}`));
