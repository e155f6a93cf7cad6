import { chmod, rm } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import type { CommandResult } from './operator.js';

/**
 * With the embedded database only the server process may open DATA_DIR, so the CLI hands its
 * command to the running server over a Unix socket in DATA_DIR that only the owner can use.
 */
export const operatorSocketPath = (dataDir: string) => join(dataDir, 'operator.sock');

type Run = (argv: string[], stdin: string) => Promise<CommandResult>;

export async function serveOperatorSocket(dataDir: string, run: Run): Promise<http.Server> {
  const path = operatorSocketPath(dataDir);
  await rm(path, { force: true });
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let result: CommandResult;
    try {
      const { argv, stdin } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { argv: string[]; stdin: string };
      result = await run(argv, stdin);
    } catch (error) {
      result = { code: 1, stdout: '', stderr: `kediri-id: the server failed to run the command: ${(error as Error).message}\n` };
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(result));
  });
  // Owner-only from the moment it exists (the umask applies to the socket file listen creates).
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve) => server.listen(path, resolve));
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
  return server;
}

export async function forwardToServer(dataDir: string, argv: string[], stdin: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: operatorSocketPath(dataDir), path: '/run', method: 'POST' }, async (res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as CommandResult);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ argv, stdin }));
  });
}
