import { performance } from 'node:perf_hooks';
import { Bar, Presets } from 'cli-progress';

/** Where the bench says what it is doing: a live bar on a terminal, plain lines anywhere else. */
export interface Progress {
  log(line: string): void;
  startUpload(label: string, totalBytes: number): void;
  update(bytesDone: number): void;
  endUpload(line: string): void;
  stop(): void;
}

const MiB = 1024 * 1024;

class BarProgress implements Progress {
  private readonly bar = new Bar(
    {
      format: '{label} |{bar}| {percentage}% {doneMiB}/{totalMiB} MiB {speed} MiB/s',
      hideCursor: true,
      clearOnComplete: true,
      stopOnComplete: false,
    },
    Presets.shades_classic,
  );
  private active = false;
  private started = 0;

  log(line: string): void {
    if (this.active) this.bar.stop();
    process.stdout.write(`${line}\n`);
    this.active = false;
  }

  startUpload(label: string, totalBytes: number): void {
    this.started = performance.now();
    this.bar.start(totalBytes, 0, {
      label,
      doneMiB: '0.0',
      totalMiB: (totalBytes / MiB).toFixed(1),
      speed: '–',
    });
    this.active = true;
  }

  update(bytesDone: number): void {
    if (!this.active) return;
    const seconds = (performance.now() - this.started) / 1000;
    this.bar.update(bytesDone, {
      doneMiB: (bytesDone / MiB).toFixed(1),
      speed: seconds > 0 ? (bytesDone / MiB / seconds).toFixed(1) : '–',
    });
  }

  endUpload(line: string): void {
    this.log(line);
  }

  stop(): void {
    if (this.active) this.bar.stop();
    this.active = false;
  }
}

class LineProgress implements Progress {
  constructor(private readonly write: (line: string) => void) {}

  log(line: string): void {
    this.write(line);
  }

  startUpload(): void {}

  update(): void {}

  endUpload(line: string): void {
    this.write(line);
  }

  stop(): void {}
}

/** A bar when stdout is a terminal; otherwise one line per finished upload (CI logs, jest). */
export function createProgress(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Progress {
  return process.stdout.isTTY ? new BarProgress() : new LineProgress(write);
}

/** Says nothing (a caller that only wants the report). */
export const silentProgress: Progress = new LineProgress(() => {});
