// Half of the test files, in this process (helpers/suites.ts says why).
import { importShare } from '../helpers/suites.js';

await importShare(2, 2);
