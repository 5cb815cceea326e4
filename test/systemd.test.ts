import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { BIN, freePort, gone, runCli, runProcess } from './helpers/cli.js';
import { sealCall } from '../src/client/client.js';
import { loadClientConfig } from '../src/config/store.js';
import { fixture, tempDir } from './helpers/server.js';
import { eventually } from './helpers/wait.js';
import { atRoot } from './helpers/root.js';

// examples/systemd: the units pass systemd-analyze (security and verify), and `serve` listens on
// the socket systemd hands it (systemd-socket-activate, from Debian's systemd), with --workers too.

const UNITS = `${atRoot('examples/systemd')}/`;
const HOLDER = fixture('socket-holder.py');
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['--version']).status === 0);
const missing = spawnSync('systemd-analyze', ['--version']).status === 0 && spawnSync('systemd-socket-activate', ['--version']).status === 0 ? undefined : 'no systemd-analyze: apt-get install -y systemd';
if (missing && process.env.PSIMBOLS_REQUIRE_SYSTEMD) throw new Error(missing);

const stopped = (child: ChildProcess): Promise<void> =>
  new Promise((r) => {
    if (gone(child)) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });

describe('examples/systemd', { skip: missing }, () => {
  test('psimbols.service scores an exposure of at most 2.0, and both units verify clean', async () => {
    const security = await runProcess('systemd-analyze', ['security', '--offline=yes', 'psimbols.service'], { cwd: UNITS });
    const level = Number(/Overall exposure level for psimbols\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
    assert.ok(level <= 2.0, `exposure ${level}\n${security.stdout}`);
    const verify = await runProcess('systemd-analyze', ['verify', 'psimbols.service', 'psimbols.socket'], { cwd: UNITS });
    assert.deepEqual([verify.code, verify.stderr.trim()], [0, '']);
  });

  for (const workers of [1, 2]) {
    test(`serve${workers > 1 ? ' --workers 2' : ''} listens on the socket systemd hands it; a connection made before it runs is answered`, async () => {
      const dir = await tempDir();
      const port = await freePort();
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const file = `${dir.path}/alice.json`;
      assert.equal((await runCli(['add-client', 'alice', '--server', `http://127.0.0.1:${port}/`, '-o', file], { env })).code, 0);
      // systemd-socket-activate holds the socket and starts serve on the first connection.
      const held = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '-E', `PSIMBOLS_CONFIG_DIR=${dir.path}`, '-E', `PATH=${process.env.PATH ?? ''}`, process.execPath, BIN, 'serve', '--workers', String(workers)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      held.stderr?.on('data', (d) => (log += d.toString()));
      try {
        // The first connection, made before serve runs, waits in the socket's backlog and is
        // answered once serve listens on it. Until systemd-socket-activate itself listens, it is
        // refused: tried again.
        let health: Response | undefined;
        assert.ok(await eventually(async () => (health = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined)) !== undefined, 10_000));
        // Asked while serve was starting, the readiness probe waited, and is answered once it is ready.
        assert.deepEqual([health!.status, await health!.text()], [200, 'psimbols ready store=memory\n']);
        assert.ok(await eventually(async () => /listening on http:\/\/127\.0\.0\.1:\d+\//.test(log)), log);
        const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', file], { env });
        assert.equal(r.stdout, '6\n', r.stderr + log);
      } finally {
        await stopped(held);
        await dir.remove();
      }
    });
  }
});

/** One POST on a connection of its own, as each `psimbols call` makes: its status, or the error. */
function postAlone(url: string, body: unknown): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end(JSON.stringify(body));
  });
}

describe('a socket held across restarts', { skip: python === undefined ? 'no python3' : undefined }, () => {
  test('serve restarted twice behind the socket systemd holds loses no connection: calls made meanwhile wait, and are answered', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const env = { PSIMBOLS_CONFIG_DIR: dir.path };
    const file = `${dir.path}/alice.json`;
    assert.equal((await runCli(['add-client', 'alice', '--server', `http://127.0.0.1:${port}/`, '--requests-per-hour', '100000', '-o', file], { env })).code, 0);
    const config = await loadClientConfig(file);
    const holder = spawn(python!, [HOLDER, String(port), process.execPath, BIN, 'serve', '--log-format', 'json'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let log = '';
    holder.stderr?.on('data', (d) => (log += d.toString()));
    const listening = (): number => log.split('"msg":"listening on').length - 1;
    try {
      assert.ok(await eventually(async () => listening() === 1, 10_000), log);
      let calling = true;
      const answers: (number | string)[] = [];
      let served = 0;
      // Four callers, each one call at a time, each attempt on a connection of its own, as
      // `psimbols call --retry` makes them: a 503 is sealed afresh and sent again.
      const callers = Array.from({ length: 4 }, async () => {
        while (calling) {
          for (let attempt = 0; attempt < 5; attempt++) {
            const answer = await postAlone(`http://127.0.0.1:${port}/`, sealCall(config, 'supermath', 'factorial', { n: 3 }).outer);
            answers.push(answer);
            if (answer !== 503) break;
          }
          if (answers.at(-1) === 200) served++;
        }
      });
      for (const n of [2, 3]) {
        const before = served;
        holder.stdin?.write('restart\n');
        assert.ok(await eventually(async () => listening() === n && served > before + 20, 15_000), log);
      }
      calling = false;
      await Promise.all(callers);
      // Nothing refused, no connection lost: a request sealed before the new process began is
      // answered 503 (it cannot vouch for it), and sealed again it is served.
      assert.deepEqual([...new Set(answers)].filter((a) => a !== 200 && a !== 503), [], log);
      assert.equal(answers.filter((a) => a === 200).length, served);
      assert.equal(answers.at(-1), 200);
    } finally {
      holder.stdin?.end();
      await new Promise((r) => (gone(holder) ? r(undefined) : holder.once('exit', r)));
      await dir.remove();
    }
  });
});

describe('logs under journald', () => {
  test('when stderr is the stream JOURNAL_STREAM names, lines carry a syslog priority and no time; another stream gets JSON lines', async () => {
    const dir = await tempDir();
    try {
      const run = async (journal: (file: string) => string): Promise<string> => {
        const file = `${dir.path}/log-${Math.random().toString(36).slice(2)}`;
        const fd = openSync(file, 'w');
        const port = await freePort();
        const child = spawn(process.execPath, [BIN, 'serve', '--host', '0.0.0.0', '--port', String(port)], { env: { PATH: process.env.PATH ?? '', PSIMBOLS_CONFIG_DIR: dir.path, JOURNAL_STREAM: journal(file) }, stdio: ['ignore', 'ignore', fd] });
        closeSync(fd);
        try {
          assert.ok(await eventually(async () => /listening on every address/.test(readFileSync(file, 'utf8')), 10_000), readFileSync(file, 'utf8'));
        } finally {
          await stopped(child);
        }
        return readFileSync(file, 'utf8');
      };
      const journal = await run((file) => `${statSync(file).dev}:${statSync(file).ino}`);
      assert.match(journal, /^<6>listening on http:\/\/0\.0\.0\.0:\d+\/ config=/m);
      assert.match(journal, /^<4>listening on every address, but add-client/m);
      assert.match(journal, /^<6>stopped$/m);
      assert.deepEqual(journal.trimEnd().split('\n').filter((line) => !/^<[346]>[a-z]/.test(line)), [], 'every line has its priority, no time');
      const elsewhere = await run(() => '1:1');
      assert.match(elsewhere, /^\{"time":"[^"]+","level":"info","msg":"listening on /m);
    } finally {
      await dir.remove();
    }
  });
});
