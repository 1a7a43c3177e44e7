/** Masking of what a step prints, in whatever process the step runs. */
import { processMasker } from '../../support/masking.js';

/**
 * While a step runs, what it prints (console.log of something derived from a secret) is masked
 * too; the streams are restored afterwards. Text only; binary writes pass as they are.
 */
export function maskWrites(streams: NodeJS.WriteStream[]): () => void {
  const restore = streams.map((stream) => {
    const own = Object.getOwnPropertyDescriptor(stream, 'write');
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    const write = (chunk: unknown, ...rest: unknown[]): boolean =>
      original(typeof chunk === 'string' ? processMasker.mask(chunk) : chunk, ...rest);
    Object.defineProperty(stream, 'write', { value: write, writable: true, configurable: true });
    return () => {
      if (own) Object.defineProperty(stream, 'write', own);
      else Reflect.deleteProperty(stream, 'write');
    };
  });
  return () => {
    for (const r of restore) r();
  };
}

/**
 * Holds what is written to `streams` (a pre-forked spare importing its module before it has a
 * step, so before it has the mask): `release` restores the streams and returns a replay of the held
 * writes, called once the step's masking is in place, so that nothing printed at import escapes it.
 */
export function holdWrites(streams: NodeJS.WriteStream[]): () => () => void {
  const held: [NodeJS.WriteStream, unknown[]][] = [];
  const restore = streams.map((stream) => {
    const own = Object.getOwnPropertyDescriptor(stream, 'write');
    const write = (...args: unknown[]): boolean => {
      held.push([stream, args]);
      return true;
    };
    Object.defineProperty(stream, 'write', { value: write, writable: true, configurable: true });
    return () => {
      if (own) Object.defineProperty(stream, 'write', own);
      else Reflect.deleteProperty(stream, 'write');
    };
  });
  return () => {
    for (const r of restore) r();
    return () => {
      for (const [stream, args] of held.splice(0)) (stream.write as (...a: unknown[]) => boolean)(...args);
    };
  };
}
