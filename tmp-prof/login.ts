import * as oidc from 'openid-client';
import { SITI, createCitizen, createWebClient } from '../tests/support/fixtures.js';
import { relyingParty, signInAndExchange } from '../tests/support/rp.js';
import { startTestServer } from '../tests/support/server.js';
const server = await startTestServer({ IP_LIMIT_LOGIN: '100000000', ARGON2_MEMORY_KIB: '19456' });
await createCitizen(server.instance);
const { clientId, clientSecret } = await createWebClient(server.instance);
const rp = await relyingParty(server.url, clientId, clientSecret);
await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile email' , prompt: 'consent'});
const t = performance.now(); let n = 0;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (performance.now() - t < 15000) {
    const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile email' });
    await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
    n++;
  }
}));
console.log('logins/s', n / 15);
await server.close();
