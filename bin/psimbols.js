#!/usr/bin/env node
// Runs the compiled CLI. `npm ci` builds it through the prepare script: tsc to dist/, then
// esbuild bundles (scripts/bundle.mjs). `psimbols call …` requires one CommonJS file holding
// only that command, since scripts run it most and its start-up is most of its time: this
// launcher is CommonJS too (bin/package.json), so that path never starts the ES module loader,
// and it loads the bundle with the V8 code cache the build made (load-call.cjs).
// Every other command line imports the ES module bundle of the whole CLI, with Node's own compile
// cache where Node has one (22.1 and later): list-clients took 0.91 of the time on Node 24.
'use strict';

if (process.argv[2] === 'call') require('./load-call.cjs').loadCall().run('call');
else {
  require('node:module').enableCompileCache?.();
  import('../dist/cli-bundle/main.js').then((cli) => cli.run());
}
