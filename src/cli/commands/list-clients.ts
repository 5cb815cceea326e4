import { loadServerConfig } from '../../config/store.js';
import { buildState } from '../../server/core/server-state.js';
import { serverPath, warnOn } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { out, printJson, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly config?: string; readonly json?: boolean; readonly ids?: boolean };

export async function run(io: Io, g: GlobalOptions, o: Options): Promise<number> {
  const config = await loadServerConfig(serverPath(io, g, o.config), warnOn(io));
  // As the server sees each client, defaults applied; key ids only: they identify a key without revealing it.
  const rows = [...buildState(config).clients.values()].map((c) => ({
    client: c.id,
    mode: c.legacy === undefined ? 'ps2' : c.keys.length > 0 ? 'ps2+legacy' : 'legacy',
    kids: [...c.keys.map((k) => k.kidHex), ...(c.legacy === undefined ? [] : ['cbc'])],
    server: c.server,
    requestsPerHour: c.limit,
    allow: c.allowPatterns,
  }));
  if (o.ids) {
    for (const r of rows) out(io, r.client);
    return EXIT.ok;
  }
  if (o.json) {
    await printJson(io, g, rows);
    return EXIT.ok;
  }
  if (rows.length === 0) {
    out(io, 'no clients');
    return EXIT.ok;
  }
  const table = [['CLIENT', 'MODE', 'KEYS', 'PER HOUR', 'ALLOW', 'SERVER'], ...rows.map((r) => [r.client, r.mode, r.kids.join(','), String(r.requestsPerHour), r.allow.join(','), r.server])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) out(io, row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  return EXIT.ok;
}
