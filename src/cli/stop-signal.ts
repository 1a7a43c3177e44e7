/** Long-running commands (`worker`, `ui`) run until SIGTERM or SIGINT: the signal that stopped them. */
export function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(s);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
