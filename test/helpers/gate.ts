/**
 * A pause point for interleaving tests: a wrapped store call signals `reached` when it gets there
 * and waits for `open()`, so a test can run another request in between.
 */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let reached!: () => void;
  const arrived = new Promise<void>((resolve) => {
    reached = resolve;
  });
  return { open, opened, reached, arrived };
}

type AsyncMethod = (...args: never[]) => Promise<unknown>;

/**
 * Pauses every call of `target[method]` at a new gate before it runs: the gate is `reached` when a
 * call arrives, and the call goes on once the test opens it.
 */
export function gateCalls<Key extends string, Target extends Record<Key, AsyncMethod>>(
  target: Target,
  method: Key,
): ReturnType<typeof gate> {
  const paused = gate();
  const original = target[method].bind(target) as (...args: unknown[]) => Promise<unknown>;
  const gated = async (...args: unknown[]) => {
    paused.reached();
    await paused.opened;
    return original(...args);
  };
  target[method] = gated as unknown as Target[Key];
  return paused;
}
