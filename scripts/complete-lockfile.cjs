#!/usr/bin/env node
// Run after `npm install` (npm run lock:complete). The npm registry mirror this project builds
// against serves each native package only for the platform it runs on, so `npm install` leaves
// the other platforms' optional binaries (@biomejs/cli-*, @swc/core-*, @esbuild/*) out of
// package-lock.json, and `npm ci` then refuses the lock as out of sync. This adds the missing
// optional entries (name and exact version, marked optional) so that `npm ci` accepts the lock
// everywhere; on each platform npm installs only the binary that platform can use.
const fs = require('node:fs');
const path = require('node:path');

const file = path.resolve(process.argv[2] ?? 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) continue; // only exact pins can be completed
    const top = `node_modules/${name}`;
    const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
    const resolvedHere = packages[nested] ?? packages[top];
    if (resolvedHere?.version === version) continue;
    const target = packages[top] === undefined ? top : nested;
    if (packages[target] !== undefined) continue;
    packages[target] = { version, optional: true, ...(entry.dev ? { dev: true } : {}) };
    added += 1;
  }
}
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`complete-lockfile: added ${added} optional platform entries\n`);
