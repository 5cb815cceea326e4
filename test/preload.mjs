// Loaded by the test command before tsx: the large dependencies most test files import. Under
// tsx's module hooks, which run on a thread of their own on Node 20, every file a dependency
// imports is resolved and loaded by a round trip to that thread; loaded here first, each package's
// files are loaded once, natively, and a later import finds them in the module cache. The same
// module instances either way: nothing is stubbed or replaced.
import 'zod';
import 'piscina';
import 'ky';
import '@commander-js/extra-typings';
