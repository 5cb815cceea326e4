// Module loading hooks (node:module register), for user modules written anywhere:
// - `psimbols` and `zod` in a user module are the packages the server is installed with, so that
//   a module needs no package.json or node_modules of its own;
// - a module file outside node_modules is read as an ES module, as the README's examples are
//   written, even where no package.json says "type": "module".
// Registered after tsx's hooks, so these run first. They are JavaScript in a data: URL because
// the hooks thread loads them without tsx, from dist/, the CLI bundle and the tests alike.

const SOURCE = `
let data;
export function initialize(d) { data = d; }
export async function resolve(specifier, context, next) {
  if (specifier === 'psimbols') return { url: data.psimbols, shortCircuit: true };
  if (specifier === 'zod' || specifier.startsWith('zod/')) return next(specifier, { ...context, parentURL: data.parent });
  return next(specifier, context);
}
const ESM = /^file:\\/\\/(?!.*\\/node_modules\\/).*\\.(m?ts|m?js)$/;
export async function load(url, context, next) {
  return ESM.test(url) ? next(url, { ...context, format: 'module' }) : next(url, context);
}
`;

export const MODULE_HOOKS = `data:text/javascript,${encodeURIComponent(SOURCE)}`;
