import cluster from 'node:cluster';
import http from 'node:http';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DataDirBusy, openDatabase } from './db/open.js';
import { createServices } from './services.js';
import { createLogger } from './log.js';
import { superviseWorkers } from './workers.js';
import { offerToSupervisor, serveMetrics } from './metrics.js';
import { sweepExpired } from './oidc/payloads.js';
import { createSender } from './email/sender.js';
import { createGateways } from './messaging/gateways.js';
import { MESSAGE_ENQUEUED } from './messaging/outbox.js';
import { createMessageSender } from './messaging/sender.js';
import { forwardToServer, serveOperatorSocket } from './operator-socket.js';
import { WrongEncryptionKey } from './secrets.js';
import { readFile } from 'node:fs/promises';
import { readsFile, readsPassword, runOperatorCommand, runRestore, USAGE, type CommandResult } from './operator.js';

const SWEEP_EVERY_MS = 10 * 60 * 1000;
const SEND_MAIL_EVERY_MS = 2000;
const SEND_LOGOUTS_EVERY_MS = 2000;
/** Besides the round right after each message is enqueued (MESSAGE_ENQUEUED): retries come due. */
const SEND_MESSAGES_EVERY_MS = 1000;
/** On SIGTERM, how long requests under way may take to finish before their connections close. */
const SHUTDOWN_GRACE_MS = 10_000;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel);
  const db = await openDatabase(config);
  const { services, instance } = await (async () => {
    // Loaded here only (the operator commands do not need the provider), while the database
    // migrates and the signing keys are read, or made (an RSA key takes up to a few tenths of a second).
    const withKeys = async () => {
      const services = await createServices(config, db, log);
      await services.signingKeys.ensure();
      return services;
    };
    const [services, { createInstance }] = await Promise.all([withKeys(), import('./instance.js')]);
    return { services, instance: await createInstance(services, log) };
  })().catch(async (error: unknown) => {
    // Nothing is served: let go of the database (and its lock) so that the process can end.
    await db.close();
    throw error;
  });
  const server = http.createServer(instance.app.callback());
  await new Promise<void>((resolve) => server.listen(config.port, resolve));
  // A worker's figures are served by its supervisor, on the supervisor's metrics port.
  offerToSupervisor(services.metrics.registry);
  const metricsServer = config.metrics && cluster.isPrimary
    ? await serveMetrics(config.metrics.host, config.metrics.port, services.metrics.registry)
    : undefined;
  const operatorSocket = config.databaseUrl
    ? undefined
    : await serveOperatorSocket(config.dataDir, (argv, stdin) => runOperatorCommand(services, argv, stdin));
  const sweep = () => Promise.all([sweepExpired(db, services.audit), services.throttle.sweep(), services.logoutOutbox.sweep(), services.messages.sweep(), services.upstreamAccounts.sweep()]);
  const sweeper = setInterval(() => sweep().catch((err) => log.warn({ err }, 'sweep failed')), SWEEP_EVERY_MS);
  sweeper.unref();
  const sender = createSender(db, log, { smtpUrl: config.smtpUrl, from: config.mailFrom });
  const mailer = setInterval(() => sender.deliverDue().catch((err) => log.warn({ err }, 'email delivery round failed')), SEND_MAIL_EVERY_MS);
  mailer.unref();
  const messageSender = createMessageSender(db, log, { gateways: createGateways(config, log), count: services.metrics.message });
  const messages = setInterval(messageSender.kick, SEND_MESSAGES_EVERY_MS);
  messages.unref();
  // Missing a notification only delays a message until the next round.
  await db.listen(MESSAGE_ENQUEUED, messageSender.kick, () => {}).catch((err: unknown) => log.warn({ err }, 'not listening for new phone messages'));
  const logouts = setInterval(
    () => instance.singleLogout.deliverDue().catch((err) => log.warn({ err }, 'back-channel logout round failed')),
    SEND_LOGOUTS_EVERY_MS,
  );
  logouts.unref();

  log.info({ issuer: config.issuer, port: config.port, database: db.driver }, 'Kediri ID is listening');
  const anyAdmin = await db.query("select 1 from staff_roles where role = 'admin' limit 1");
  if (anyAdmin.rowCount === 0) {
    log.info('No administrator yet. Create the first one (the password on standard input): npx kediri-id admin create --email you@kedirikota.go.id --nik NIK --name "Your Name" --birthdate YYYY-MM-DD; or, for an existing account, only --email');
  }
  if (!(await services.clients.any())) {
    log.info('No clients yet. Register one with: npx kediri-id client create --unit diskominfo --name "My service" --redirect-uri http://localhost:8080/callback');
  }

  return new Promise((resolve) => {
    let stopping = false;
    // A signal may come twice (a terminal signals every process; the supervisor passes it on too).
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      // Whatever still hangs (a database that does not answer) does not keep the process alive.
      setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS + 5000).unref();
      clearInterval(sweeper);
      clearInterval(mailer);
      clearInterval(messages);
      clearInterval(logouts);
      instance.close();
      sender.close();
      operatorSocket?.close();
      metricsServer?.close();
      // No new connections; idle ones close now, and requests under way get SHUTDOWN_GRACE_MS to finish.
      const closed = new Promise((done) => server.close(done));
      const grace = new Promise((done) => setTimeout(done, SHUTDOWN_GRACE_MS).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      await db.close();
      log.info('Kediri ID stopped');
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Runs an operator command here, or in the running server when it holds the embedded database. */
async function operate(config: Config, argv: string[]): Promise<CommandResult> {
  const file = readsFile(argv);
  let stdin: string;
  try {
    stdin = file ? await readFile(file, 'utf8') : readsPassword(argv) ? await readStdin() : '';
  } catch (error) {
    return { code: 2, stdout: '', stderr: `kediri-id: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n` };
  }
  let db;
  try {
    db = await openDatabase(config);
  } catch (error) {
    if (error instanceof DataDirBusy) return forwardToServer(config.dataDir, argv, stdin);
    throw error;
  }
  try {
    return await runOperatorCommand(await createServices(config, db), argv, stdin);
  } finally {
    await db.close();
  }
}

/** The CLI: returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help') {
    process.stdout.write(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  // The doctor reports a bad configuration in its own words, among its other checks.
  if (argv[0] === 'doctor') {
    const { doctor } = await import('./doctor.js');
    return doctor(process.env, (line) => process.stdout.write(`${line}\n`));
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kediri-id: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (argv[0] === 'serve') {
    if (config.workers > 1 && cluster.isPrimary) return superviseWorkers(config, createLogger(config.logLevel));
    const code = await serve(config).catch((error: unknown) => {
      if (error instanceof DataDirBusy) {
        process.stderr.write(`kediri-id: ${error.message}: is a server already running? (a crashed one's lock expires after 10 s)\n`);
        return 1;
      }
      if (error instanceof WrongEncryptionKey) {
        process.stderr.write(`kediri-id: ${error.message}\n`);
        return 1;
      }
      throw error;
    });
    // A worker's channel to its supervisor would keep it alive.
    cluster.worker?.disconnect();
    return code;
  }
  const result = argv[0] === 'restore' ? await runRestore(config, argv.slice(1)) : await operate(config, argv);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  return result.code;
}
