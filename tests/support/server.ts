import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createInstance, type Instance } from '../../src/instance.js';
import { createLogger } from '../../src/log.js';
import { newSecret } from '../../src/secrets.js';
import { createServices } from '../../src/services.js';
import { testClock } from './clock.js';
import { createTestDb, type TestDb } from './db.js';
import { TEST_ENV } from './env.js';

export interface TestServer {
  url: string;
  instance: Instance;
  testDb: TestDb;
  /** The server's clock (TOTP time steps), which the test may move on instead of waiting. */
  clock: typeof testClock;
  close(): Promise<void>;
}

/**
 * A real server on 127.0.0.1 with its own database; the issuer is the address it listens on, or
 * http://localhost:port with `{ hostname: 'localhost' }` (WebAuthn needs a domain, not an address).
 */
export async function startTestServer(env: Record<string, string> = {}, { hostname = '127.0.0.1' } = {}): Promise<TestServer> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://${hostname}:${(server.address() as AddressInfo).port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'kediri-test-'));
  const config = loadConfig({
    ISSUER: url,
    DATA_DIR: dataDir,
    ENCRYPTION_KEY: newSecret(),
    LOG_LEVEL: 'silent',
    ...TEST_ENV,
    ...env,
  });
  const testDb = await createTestDb();
  const log = createLogger(config.logLevel);
  const instance = await createInstance(await createServices(config, testDb.db, log, testClock), log);
  server.on('request', instance.app.callback());
  return {
    url,
    instance,
    testDb,
    clock: testClock,
    async close() {
      instance.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await testDb.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
