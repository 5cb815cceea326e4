import { spawnSync } from 'node:child_process';
import { atRoot } from './root.js';

/** clients/python/, with its trailing slash. */
export const PYTHON_PACKAGE = `${atRoot('clients/python')}/`;

export const NO_PYTHON = 'no python3 with cryptography: apt-get install -y python3-cryptography (or pip install cryptography) to run the Python client tests';

/**
 * The first python3 on PATH that imports cryptography, else Debian's, as the interpreter's own
 * path: a version manager's shim (pyenv's runs a dozen bash processes) would cost every run
 * about 0.1 s more. Undefined where none has cryptography.
 */
function findPython(): string | undefined {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(candidate, ['-c', 'import cryptography, sys; print(sys.executable)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const path = r.stdout?.trim();
    if (r.status === 0 && path) return path;
  }
  return undefined;
}

export const python = findPython();
