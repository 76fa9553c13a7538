/**
 * Runs a benchmark in a child process: sends its result (or the error) to the parent and leaves,
 * even if a handle (a pool, a timer) is still open. Run on its own, prints JSON instead.
 */
export async function reportToParent(type: string, run: () => Promise<unknown>): Promise<void> {
  let message: unknown;
  try {
    const result = await run();
    message = { type, result };
    if (!process.send) console.log(JSON.stringify(result, null, 2));
  } catch (err) {
    message = { type: 'error', message: (err as Error).stack ?? String(err) };
    if (!process.send) console.error(err);
    process.exitCode = 1;
  }
  if (process.send) process.send(message, () => process.exit());
  else process.exit();
}
