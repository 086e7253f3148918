#!/usr/bin/env node
// `npx bastion …` from a checkout: runs the built CLI (npm run build, or npm start, builds it).
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const entry = join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('bastion: not built yet; run `npm run build` first.\n');
  process.exit(1);
}
require(entry);
