/** Masking of what a step prints, in whatever process the step runs. */
import { processMasker } from '../../support/masking.js';

type Write = (...args: unknown[]) => boolean;

/**
 * While a step runs, what it prints (console.log of something derived from a secret) is masked
 * too; the streams are restored afterwards. Text only; binary writes pass as they are.
 */
export function maskWrites(streams: NodeJS.WriteStream[]): () => void {
  return replaceWrites(
    streams,
    (_, original) =>
      (chunk: unknown, ...rest: unknown[]): boolean =>
        original(typeof chunk === 'string' ? processMasker.mask(chunk) : chunk, ...rest),
  );
}

/**
 * Holds what is written to `streams` (a pre-forked spare importing its module before it has a
 * step, so before it has the mask): `release` restores the streams and returns a replay of the held
 * writes, called once the step's masking is in place, so that nothing printed at import escapes it.
 */
export function holdWrites(streams: NodeJS.WriteStream[]): () => () => void {
  const held: [NodeJS.WriteStream, unknown[]][] = [];
  const restore = replaceWrites(streams, (stream) => (...args: unknown[]): boolean => {
    held.push([stream, args]);
    return true;
  });
  return () => {
    restore();
    return () => {
      for (const [stream, args] of held.splice(0)) (stream.write as Write)(...args);
    };
  };
}

/**
 * Puts `make(stream, its own write)` in the place of each stream's write, as an own property; the
 * function returned puts back what was there (the stream's own property, or none).
 */
function replaceWrites(
  streams: NodeJS.WriteStream[],
  make: (stream: NodeJS.WriteStream, original: Write) => Write,
): () => void {
  const restore = streams.map((stream) => {
    const own = Object.getOwnPropertyDescriptor(stream, 'write');
    const original = stream.write.bind(stream) as Write;
    Object.defineProperty(stream, 'write', { value: make(stream, original), writable: true, configurable: true });
    return () => {
      if (own) Object.defineProperty(stream, 'write', own);
      else Reflect.deleteProperty(stream, 'write');
    };
  });
  return () => {
    for (const r of restore) r();
  };
}
