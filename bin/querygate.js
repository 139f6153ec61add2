#!/usr/bin/env node
// The binary only wires the CLI module to the process; all logic lives in dist/.
import { main } from '../dist/cli/main.js';

await main(process.argv);
