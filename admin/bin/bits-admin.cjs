#!/usr/bin/env node
'use strict';
/** The `bits-admin` command: admin/main.ts, bundled on first use (scripts/bundled-command.cjs). */
const { bundledCommand } = require('../../scripts/bundled-command.cjs');

require(bundledCommand('bits-admin', 'admin/main.ts'));
