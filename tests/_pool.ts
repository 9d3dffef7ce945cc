/**
 * Runs many tasks a few at a time: how the load-shaped suites, the load
 * client and the soak open thousands of connections.
 */

/**
 * Runs `task(i)` for every `i` in [0, n), at most `limit` at a time, in
 * order of `i`. After the first failure no new task starts; once the ones
 * under way have settled, that failure is thrown.
 *
 * @typeParam T What a task resolves with.
 * @param n How many tasks.
 * @param limit How many may run at a time.
 * @param task Runs task `i`.
 * @returns What each task resolved with, by `i`.
 * @throws {unknown} The first task failure.
 */
export async function pool<T>(
  n: number,
  limit: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < n && failure === undefined) {
      const i = next++;
      try {
        results[i] = await task(i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, limit) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
