/** Entry point of the `n1-report` binary: the report command on its own. */
import { reportCommand } from './report.js';
import { runMain } from './main.js';

await runMain(reportCommand('n1-report'), 'n1-report');
