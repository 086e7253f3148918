/** An iterator that can look one item ahead: how a streaming reader knows it holds the last line. */
export interface Peekable<T> {
  peek(): Promise<T | undefined>;
  take(): Promise<T | undefined>;
}

export function peekable<T>(source: AsyncIterable<T> | Iterable<T>): Peekable<T> {
  const iterator: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  let ahead: { value: T | undefined } | undefined;
  const peek = async (): Promise<T | undefined> => {
    if (!ahead) {
      const result = await iterator.next();
      ahead = { value: result.done ? undefined : result.value };
    }
    return ahead.value;
  };
  return {
    peek,
    async take() {
      const value = await peek();
      ahead = undefined;
      return value;
    },
  };
}
