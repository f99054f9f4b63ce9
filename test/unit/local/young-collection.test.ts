import { constants, PerformanceObserver } from 'node:perf_hooks';
import { youngCollection } from '../../../local/http/young-collection';

/** Forced young-generation collections V8 reports while `run` runs (V8's own are not forced). */
async function minorCollections(run: () => void): Promise<number> {
  let seen = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number; flags?: number } }).detail;
      const forced = ((detail?.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR && forced) seen += 1;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  run();
  await new Promise((resolve) => setTimeout(resolve, 50)); // entries are delivered asynchronously
  observer.disconnect();
  return seen;
}

describe('youngCollection', () => {
  it('collects the young generation once every `everyBytes` of answered bodies, not before', async () => {
    const answered = youngCollection(1000, 100);
    expect(await minorCollections(() => answered(999))).toBe(0);
    expect(await minorCollections(() => answered(1))).toBe(1);
    expect(await minorCollections(() => [600, 600, 600, 600].forEach(answered))).toBe(2);
  });

  it('collects after every `everyRequests` answered requests, however small their bodies', async () => {
    const answered = youngCollection(1_000_000, 16);
    expect(await minorCollections(() => Array.from({ length: 15 }, () => 10).forEach(answered))).toBe(0);
    expect(await minorCollections(() => answered(0))).toBe(1);
    expect(await minorCollections(() => Array.from({ length: 32 }, () => 10).forEach(answered))).toBe(2);
  });
});
