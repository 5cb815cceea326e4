import { defaultServerUrl } from '../../config/server-config.js';
import { loadServerConfig } from '../../config/store.js';
import { prepareKey } from '../../protocol/keys.js';
import { serverPath, warnOn } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { out, printJson, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly config?: string; readonly json?: boolean; readonly ids?: boolean };

export async function run(io: Io, g: GlobalOptions, o: Options): Promise<number> {
  const config = await loadServerConfig(serverPath(io, g, o.config), warnOn(io));
  // Key ids only: they identify a key without revealing it.
  const rows = Object.entries(config.clients).map(([id, c]) => ({
    client: id,
    mode: c.keys.some((k) => k.mode === 'CBC') ? (c.keys.length > 1 ? 'ps2+legacy' : 'legacy') : 'ps2',
    kids: c.keys.map((k) => {
      const p = prepareKey(k);
      return p.kind === 'v2' ? p.kidHex : 'cbc';
    }),
    server: c.server ?? defaultServerUrl(config),
    requestsPerHour: c.requestsPerHour ?? config.defaults.requestsPerHour,
    allow: c.allow ?? config.defaults.allow,
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
