#!/usr/bin/env node
'use strict';
/** The `bits-upload` command: client/cli.ts, bundled on first use (scripts/bundled-command.cjs). */
const { bundledCommand } = require('../../scripts/bundled-command.cjs');

require(bundledCommand('bits-upload', 'client/cli.ts')).runCli();
