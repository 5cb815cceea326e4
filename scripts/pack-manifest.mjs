// npm pack and npm publish: the tarball's package.json carries no install script. `prepare`
// builds dist/ when a clone runs npm ci; the tarball ships dist/ already built (prepack), and
// npm 11 warns of any install script a package has. So prepack renames prepare to _prepare and
// postpack puts it back, byte for byte, as pinst does for postinstall.
//   node scripts/pack-manifest.mjs disable|enable [package.json]
import { readFileSync, writeFileSync } from 'node:fs';

const [mode, path = 'package.json'] = process.argv.slice(2);
const text = readFileSync(path, 'utf8');
const [from, to] = mode === 'disable' ? ['"prepare":', '"_prepare":'] : mode === 'enable' ? ['"_prepare":', '"prepare":'] : [];
if (from === undefined) {
  console.error('usage: node scripts/pack-manifest.mjs disable|enable [package.json]');
  process.exit(2);
}
if (text.includes(from)) writeFileSync(path, text.replace(from, to));
