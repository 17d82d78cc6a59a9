/**
 * `node run-cli.js ARGS`: runs `tsemu guest ARGS` as bin/tsemu will once it routes
 * `guest` to services/cpu/guest/cli.ts, so tests see its stdout, stderr and status.
 */
import { main } from '../../../services/cpu/guest/cli.js';

process.exitCode = await main(process.argv.slice(2));
