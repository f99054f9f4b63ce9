import { MultiBar, Presets } from 'cli-progress';
import type { UploadEvent, UploadProgress } from './events';
import { formatBytes, formatDuration } from './units';

/** How the CLI shows an upload on stderr. */
export interface Reporter {
  progress(progress: UploadProgress): void;
  event(event: UploadEvent): void;
  /** A line of its own (start, warnings). */
  line(text: string): void;
  /** Ends the bar, if any, so later output starts on a clean line. */
  stop(): void;
}

const PREFIX = 'bits-upload: ';

/** One log line for the events worth telling a person about; undefined for the rest. */
export function describeEvent(event: UploadEvent): string | undefined {
  switch (event.type) {
    case 'session':
      return `session ${event.sessionId} (protocol ${event.protocol})`;
    case 'host-id':
      return `server named host ${event.hostId}: continuing at ${event.url}`;
    case 'host-fallback':
      return `host from BITS-Host-Id unreachable past its fallback timeout: back to ${event.url}`;
    case 'auth':
      return 'server asked for credentials: resending with Basic authentication';
    case 'retry':
      return `${event.packetType} failed (${event.reason}); retry ${event.attempt}/${event.retries} in ${formatDuration(event.delayMs)}`;
    case 'shrink':
      return `server wants smaller fragments: now ${formatBytes(event.fragmentSize)}`;
    case 'resync':
      return `server holds ${event.received} bytes (expected ${event.expected}): continuing from there`;
    case 'restart':
      return `server lost the session (${event.reason}); restart ${event.restart} from offset 0`;
    case 'cancel':
      return event.acknowledged
        ? 'Cancel-Session acknowledged: the server dropped the partial upload'
        : `Cancel-Session not acknowledged (${event.detail ?? 'no answer'})`;
    case 'reply':
      return `reply: ${formatBytes(event.bytes)}${event.totalBytes === undefined ? '' : ` of ${formatBytes(event.totalBytes)}`} from ${event.url}`;
    case 'packet':
      return undefined;
  }
}

export const silentReporter: Reporter = {
  progress: () => undefined,
  event: () => undefined,
  line: () => undefined,
  stop: () => undefined,
};

/** Plain lines for logs and pipes: no cursor movement, no `\r`; progress every 25 %. */
export function plainReporter(stream: NodeJS.WritableStream): Reporter {
  let lastQuarter = 0;
  const write = (text: string): void => {
    stream.write(`${PREFIX}${text}\n`);
  };
  return {
    progress: ({ bytesAcked, totalBytes }) => {
      const quarter = totalBytes === 0 ? 4 : Math.floor((bytesAcked / totalBytes) * 4);
      if (quarter <= lastQuarter) return;
      lastQuarter = quarter;
      write(`${quarter * 25}% (${formatBytes(bytesAcked)} of ${formatBytes(totalBytes)})`);
    },
    event: (event) => {
      const text = describeEvent(event);
      if (text !== undefined) write(text);
    },
    line: write,
    stop: () => undefined,
  };
}

/** A cli-progress bar with rate and ETA, for a terminal; events print above it. */
export function barReporter(stream: NodeJS.WritableStream): Reporter {
  const bars = new MultiBar(
    {
      stream,
      format: ' {bar} {percentage}% | {done} of {size} | {rate} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 20,
      fps: 10,
    },
    Presets.shades_classic,
  );
  let bar: ReturnType<MultiBar['create']> | undefined;
  const log = (text: string): void => {
    if (bar === undefined) {
      stream.write(`${PREFIX}${text}\n`);
      return;
    }
    bars.log(`${PREFIX}${text}\n`);
    bars.update(); // log() only buffers until the next redraw
  };
  return {
    progress: ({ bytesAcked, totalBytes, elapsedMs }) => {
      const payload = {
        done: formatBytes(bytesAcked),
        size: formatBytes(totalBytes),
        rate: `${formatBytes(elapsedMs > 0 ? (bytesAcked * 1000) / elapsedMs : 0)}/s`,
      };
      if (bar === undefined) bar = bars.create(Math.max(totalBytes, 1), bytesAcked, payload);
      else bar.update(bytesAcked, payload);
    },
    event: (event) => {
      const text = describeEvent(event);
      if (text !== undefined) log(text);
    },
    line: log,
    stop: () => {
      if (bar === undefined) return;
      bars.update();
      bars.stop();
      bar = undefined;
    },
  };
}
