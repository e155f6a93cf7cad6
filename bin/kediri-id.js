#!/usr/bin/env node
// The operator CLI: runs src/main.ts through tsx so that no build step is needed.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
