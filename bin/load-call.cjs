// Loads `call`'s CommonJS bundle (dist/cli-call/main.cjs) with its V8 code cache, when the build
// made one (scripts/call-cache.cjs) and this V8 accepts it; otherwise it compiles as require would.
'use strict';
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const FILE = join(__dirname, '../dist/cli-call/main.cjs');

/** The bundle's module, compiled with `cachedData` (a Buffer, or undefined). */
function compileBundle(cachedData) {
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(FILE, 'utf8')}\n})`;
  const script = new Script(wrapped, { filename: FILE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(FILE), module, FILE, dirname(FILE));
  return { script, exports: module.exports };
}

function loadCall() {
  let cachedData;
  try {
    cachedData = readFileSync(`${FILE}.cache`);
  } catch {
    // No cache (a build without one): compile as usual.
  }
  return compileBundle(cachedData).exports;
}

module.exports = { compileBundle, loadCall };
