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
