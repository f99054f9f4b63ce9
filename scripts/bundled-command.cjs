'use strict';
/**
 * Runs a TypeScript command entry (bits-upload, bits-admin) as a plain `bin`: esbuild (a
 * devDependency) bundles the entry into node_modules/.cache/<name>/ on first use, and again only
 * when one of the bundled sources (listed in esbuild's metafile) is newer than the last build. npm
 * packages stay external and load from node_modules. Hand-written because a bin must start
 * without a TypeScript loader on the command line.
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** Bump when the build options change, so old bundles are not reused. */
const BUILD_FORMAT = 1;

/** Builds `entry` if needed and returns the bundle's path. */
function bundledCommand(name, entry) {
  const cacheDir = path.join(root, 'node_modules', '.cache', name);
  const bundlePath = path.join(cacheDir, `${path.basename(entry, '.ts')}.cjs`);
  const metaPath = path.join(cacheDir, 'build.json');

  function isFresh() {
    let meta;
    try {
      meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
      if (meta.format !== BUILD_FORMAT || !fs.existsSync(bundlePath)) return false;
    } catch {
      return false;
    }
    for (const input of meta.inputs) {
      try {
        if (fs.statSync(path.join(root, input)).mtimeMs > meta.startedAt) return false;
      } catch {
        return false; // a source moved or went away
      }
    }
    return true;
  }

  function build() {
    let esbuild;
    try {
      esbuild = require('esbuild');
    } catch (error) {
      process.stderr.write(
        `${name}: esbuild is needed to build the command (run npm ci): ${error.message}\n`,
      );
      process.exit(1);
    }
    // Taken before reading sources: a file saved during the build makes the next run rebuild.
    const startedAt = Date.now();
    const result = esbuild.buildSync({
      absWorkingDir: root,
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      sourcemap: 'inline',
      metafile: true,
      write: false,
      logLevel: 'error',
    });
    const [output] = result.outputFiles;
    fs.mkdirSync(cacheDir, { recursive: true });
    // Write-then-rename, so parallel first runs never read a half-written bundle.
    const suffix = `.${process.pid}.tmp`;
    fs.writeFileSync(bundlePath + suffix, output.contents);
    fs.renameSync(bundlePath + suffix, bundlePath);
    const meta = { format: BUILD_FORMAT, startedAt, inputs: Object.keys(result.metafile.inputs) };
    fs.writeFileSync(metaPath + suffix, JSON.stringify(meta));
    fs.renameSync(metaPath + suffix, metaPath);
  }

  if (!isFresh()) build();
  process.setSourceMapsEnabled(true);
  return bundlePath;
}

module.exports = { bundledCommand };
