import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { readonly type: 'minor' | 'major' }) => void;

let collect: Collect | undefined | null = null;

/**
 * V8's collector, as jest's leak detector obtains it without `--expose-gc` on the command line:
 * the flag applies to contexts created after it is set. Undefined if the runtime refuses.
 */
function collector(): Collect | undefined {
  if (collect === null) {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    collect = typeof gc === 'function' ? (gc as Collect) : undefined;
  }
  return collect;
}

/**
 * Returns what the front calls with each request's body size once the request has been answered:
 * a young-generation collection after every `everyBytes` of bodies or every `everyRequests`
 * requests, whichever comes first.
 *
 * Why by hand: Node allocates a new Buffer for every socket read, and V8 frees a dead Buffer's
 * memory only when it collects the small wrapper object, which happens when the young generation
 * fills with JavaScript objects or once dead Buffers pass V8's external-memory allowance (64 MiB).
 * A server that moves megabytes of bodies in few JavaScript objects reaches neither soon, so its
 * memory grew by up to that allowance of dead fragment bodies. Collected this way, the bodies of
 * answered requests are freed within `everyBytes`, at the cost of a scavenge (about a
 * millisecond: little survives) per `everyBytes` received. Small requests leave JavaScript garbage
 * rather than Buffers (SDK calls, records): collecting after `everyRequests` keeps the young
 * generation from growing through its pages between collections (at 5 KiB fragments the peak above
 * the base fell from 16 to 3 MiB with a collection every 16 requests; bench/README.md has the
 * figures for the 4 the local server uses).
 */
export function youngCollection(everyBytes: number, everyRequests: number): (bodyBytes: number) => void {
  let bytes = 0;
  let requests = 0;
  return (bodyBytes) => {
    bytes += bodyBytes;
    requests += 1;
    if (bytes < everyBytes && requests < everyRequests) return;
    bytes = 0;
    requests = 0;
    collector()?.({ type: 'minor' });
  };
}
