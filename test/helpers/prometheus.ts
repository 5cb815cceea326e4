import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.js';
import { eventually } from './wait.js';

// Debian's prometheus and promtool, for the metrics tests. Like Redis: skipped with a hint on a
// machine without them, a failure in CI (PSIMBOLS_REQUIRE_PROMETHEUS=1).

export const prometheusMissing = (): string | undefined => {
  if (spawnSync('promtool', ['--version']).status === 0 && spawnSync('prometheus', ['--version']).status === 0) return undefined;
  const hint = 'prometheus or promtool not found: install them with "apt-get install -y prometheus" to run the metrics tests';
  if (process.env.PSIMBOLS_REQUIRE_PROMETHEUS) throw new Error(hint);
  return hint;
};

/** `promtool check metrics` on an exposition: its exit status and what it said. */
export function promtoolCheck(exposition: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export type TestPrometheus = {
  /** The value of an instant query's single result, or undefined while it has none. */
  query(promql: string): Promise<string | undefined>;
  remove(): Promise<void>;
};

/** A Prometheus that scrapes `target` (host:port) every second. */
export async function startPrometheus(target: string): Promise<TestPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'psimbols-prometheus-'));
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: psimbols\n    static_configs:\n      - targets: ['${target}']\n`);
  const child: ChildProcess = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  const remove = async (): Promise<void> => {
    if (child.exitCode === null) await new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
  };
  if (!(await eventually(async () => (await fetch(`${base}/-/ready`).catch(() => undefined))?.status === 200, 20_000))) {
    await remove();
    throw new Error('prometheus did not become ready');
  }
  const query = async (promql: string): Promise<string | undefined> => {
    const r = (await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as { data?: { result?: { value?: [number, string] }[] } };
    return r.data?.result?.[0]?.value?.[1];
  };
  return { query, remove };
}
