import type { CancelResult, SessionDetail, SessionSummary, SweepResult } from './sessions';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 0 B, 512 B, 1.5 MiB, 5.0 TiB: binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** 45s, 12m, 3h 5m, 2d 4h: the two largest units. */
export function formatAge(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m`;
  return `${seconds}s`;
}

/** "30.0% (6.0 MiB of 20.0 MiB)", or "0 B of ?" before the first fragment declares the size. */
export function formatProgress(session: SessionSummary): string {
  if (session.totalSize === null || session.progressPercent === null) {
    return `${formatBytes(session.nextOffset)} of ?`;
  }
  return `${session.progressPercent.toFixed(1)}% (${formatBytes(session.nextOffset)} of ${formatBytes(session.totalSize)})`;
}

/** Left-aligned columns separated by two spaces, header first. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const stateOf = (session: SessionSummary): string =>
  session.expired && session.state === 'open' ? 'expired' : session.state;

export function formatSessionList(sessions: readonly SessionSummary[]): string {
  if (sessions.length === 0) return 'no sessions';
  return formatTable(
    ['SESSION', 'STATE', 'OWNER', 'KEY', 'PROGRESS', 'AGE'],
    sessions.map((session) => [
      session.id,
      stateOf(session),
      session.owner,
      session.key,
      formatProgress(session),
      formatAge(session.ageSeconds),
    ]),
  );
}

export function formatSessionDetail(detail: SessionDetail): string {
  const { session, parts } = detail;
  const fields: [string, string][] = [
    ['session', session.id],
    ['state', stateOf(session)],
    ['owner', session.owner],
    ['key', session.key],
    ['original path', session.originalPath],
    ['upload id', session.uploadId],
    ['progress', formatProgress(session)],
    ['next offset', String(session.nextOffset)],
    ['total size', session.totalSize === null ? '-' : String(session.totalSize)],
    ['part size', session.partSize === null ? '-' : formatBytes(session.partSize)],
    ['parts done', String(session.partsDone)],
    ['created', `${session.createdAt} (${formatAge(session.ageSeconds)} ago)`],
    ['expires', session.expiresAt],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  const lines = fields.map(([name, value]) => `${`${name}:`.padEnd(width + 1)}  ${value}`);
  lines.push('', `staged chunks (${session.staged.length})`);
  if (session.staged.length > 0) {
    lines.push(
      formatTable(
        ['START', 'END', 'LEVEL', 'KEY'],
        session.staged.map((chunk) => [
          String(chunk.start),
          String(chunk.end),
          String(chunk.level),
          chunk.key,
        ]),
      ),
    );
  }
  lines.push('', `part items (${parts.length})`);
  if (parts.length > 0) {
    lines.push(
      formatTable(
        ['PART', 'SIZE', 'ETAG'],
        parts.map((part) => [String(part.partNumber), String(part.size), part.etag]),
      ),
    );
  }
  return lines.join('\n');
}

export function formatCancel(result: CancelResult): string {
  switch (result.outcome) {
    case 'cancelled':
      return `${result.id}: cancelled (multipart upload aborted, staged objects and part items deleted)`;
    case 'not-found':
      return `${result.id}: no such session`;
    case 'already-closed':
      return `${result.id}: already closed; nothing to cancel`;
    case 'already-cancelled':
      return `${result.id}: already cancelled`;
  }
}

export function formatSweep(result: SweepResult): string {
  const lines: string[] = [];
  if (result.expired.length === 0) {
    lines.push(`no open session expired by ${result.cutoff} (now ${result.now}, minus the grace period)`);
  } else {
    lines.push(
      `${result.expired.length} open session(s) expired by ${result.cutoff} (now ${result.now}, minus the grace period):`,
      formatSessionList(result.expired),
    );
    lines.push(
      result.dryRun
        ? 'dry run: nothing discarded (run without --dry-run to discard them)'
        : `discarded ${result.discarded.length}`,
    );
  }
  for (const failure of result.failed) lines.push(`failed ${failure.id}: ${failure.error}`);
  return lines.join('\n');
}
