/** Mann-Whitney U test on two samples, as a z-score: beyond about 4 the two really differ. */
export function mannWhitneyZ(a: readonly number[], b: readonly number[]): number {
  const all = [...a.map((x) => [x, 0] as const), ...b.map((x) => [x, 1] as const)].sort((p, q) => p[0] - q[0]);
  let rankA = 0;
  all.forEach(([, group], i) => {
    if (group === 0) rankA += i + 1;
  });
  const u = rankA - (a.length * (a.length + 1)) / 2;
  const mean = (a.length * b.length) / 2;
  const sd = Math.sqrt((a.length * b.length * (a.length + b.length + 1)) / 12);
  return (u - mean) / sd;
}

export const median = (xs: readonly number[]): number => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)] ?? NaN;

/** Times two kinds of work interleaved pair by pair, alternating which goes first. */
export async function interleaved(n: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<{ a: number[]; b: number[] }> {
  const time = async (f: () => Promise<unknown>): Promise<number> => {
    const start = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - start) / 1000;
  };
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < n; i++) {
    if (i % 2) {
      out.a.push(await time(a));
      out.b.push(await time(b));
    } else {
      out.b.push(await time(b));
      out.a.push(await time(a));
    }
  }
  return out;
}
