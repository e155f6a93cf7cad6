/**
 * Runs the example relying party. From the repository root:
 *
 *   ISSUER=http://localhost:3000 CLIENT_ID=... CLIENT_SECRET=... npx tsx examples/relying-party/main.ts
 *
 * then open http://localhost:8080. Settings (environment):
 *   ISSUER          Kediri ID's URL (required)
 *   CLIENT_ID       the client's id (required)
 *   CLIENT_SECRET   its secret (required; keep it out of URLs and source control)
 *   PORT            default 8080
 *   REDIRECT_URI    default http://localhost:PORT/callback
 *   POST_LOGOUT_REDIRECT_URI   default http://localhost:PORT/signed-out
 *   SCOPE           default "openid profile email offline_access"
 *   ACR_VALUES      optional, e.g. "urn:kediri:acr:verified"
 */
import { createExampleApp } from './app.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`Set ${name} (see examples/relying-party/README.md).`);
    process.exit(2);
  }
  return value;
}

const port = Number(process.env.PORT || 8080);
const app = await createExampleApp({
  issuer: required('ISSUER'),
  clientId: required('CLIENT_ID'),
  clientSecret: required('CLIENT_SECRET'),
  redirectUri: process.env.REDIRECT_URI || `http://localhost:${port}/callback`,
  postLogoutRedirectUri: process.env.POST_LOGOUT_REDIRECT_URI || `http://localhost:${port}/signed-out`,
  scope: process.env.SCOPE || 'openid profile email offline_access',
  acrValues: process.env.ACR_VALUES || undefined,
});
app.listen(port, () => console.log(`Example service on http://localhost:${port}`));
