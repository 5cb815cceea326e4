import { z } from 'zod';
import { defineModule, type FunctionResult } from './module-api.js';

// Built in and bounded: every input range is small enough to run inline on the event loop.

const MAX_FACTORIAL = 5000;
const MAX_FIBONACCI = 10000;
// Miller-Rabin with the first twelve primes as bases is exact below this (Sorenson and Webster).
const MAX_PRIME = 3_317_044_064_679_887_385_961_981n;

/** A JSON number while it is a safe integer, a decimal string beyond. */
const exact = (n: bigint): number | string => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString());

const show = (n: bigint): string => {
  const s = n.toString();
  return s.length <= 40 ? s : `${s.slice(0, 12)}...${s.slice(-12)} (${s.length} digits)`;
};

function factorial(n: number): bigint {
  const last = BigInt(n);
  let acc = 1n;
  for (let i = 2n; i <= last; i++) acc *= i;
  return acc;
}

function fibonacci(n: number): bigint {
  let a = 0n;
  let b = 1n;
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function isPrime(n: bigint): boolean {
  if (n < 2n) return false;
  for (const p of [2n, 3n, 5n]) if (n % p === 0n) return n === p;
  // Deterministic Miller-Rabin for n < 3.3e24 with these bases.
  let d = n - 1n;
  let s = 0;
  while (d % 2n === 0n) {
    d /= 2n;
    s++;
  }
  const powmod = (b: bigint, e: bigint): bigint => {
    let r = 1n;
    b %= n;
    while (e > 0n) {
      if (e & 1n) r = (r * b) % n;
      b = (b * b) % n;
      e >>= 1n;
    }
    return r;
  };
  outer: for (const a of [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n]) {
    if (a % n === 0n) continue;
    let x = powmod(a, d);
    if (x === 1n || x === n - 1n) continue;
    for (let r = 1; r < s; r++) {
      x = (x * x) % n;
      if (x === n - 1n) continue outer;
    }
    return false;
  }
  return true;
}

const int = z.number().int();
// Integers beyond a double's 2^53 arrive as decimal strings, every digit kept.
const bigInput = z.union([int, z.string().regex(/^-?\d{1,25}$/, 'must be an integer')]).transform((v) => BigInt(v));

export const supermath = defineModule({
  name: 'supermath',
  description: 'Exact integer arithmetic',
  isolate: false,
  functions: {
    factorial: {
      description: `n! for 0 <= n <= ${MAX_FACTORIAL}`,
      params: z.strictObject({ n: int.min(0).max(MAX_FACTORIAL) }),
      run: ({ n }): FunctionResult => {
        const v = factorial(n);
        return { value: exact(v), comment: `${n}! = ${show(v)}` };
      },
    },
    fibonacci: {
      description: `the n-th Fibonacci number, F(0) = 0, for 0 <= n <= ${MAX_FIBONACCI}`,
      params: z.strictObject({ n: int.min(0).max(MAX_FIBONACCI) }),
      run: ({ n }): FunctionResult => {
        const v = fibonacci(n);
        return { value: exact(v), comment: `F(${n}) = ${show(v)}` };
      },
    },
    gcd: {
      description: 'greatest common divisor of two safe integers',
      params: z.strictObject({ a: int.min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER), b: int.min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER) }),
      run: ({ a, b }): FunctionResult => {
        const v = gcd(BigInt(a), BigInt(b));
        return { value: Number(v), comment: `gcd(${a}, ${b}) = ${v}` };
      },
    },
    is_prime: {
      description: `whether n is prime, for 0 <= n < ${MAX_PRIME} (a number, or a decimal string beyond 2^53)`,
      params: z.strictObject({ n: bigInput.refine((v) => v >= 0n && v < MAX_PRIME, `must be between 0 and ${MAX_PRIME - 1n}`) }),
      run: ({ n }): FunctionResult => {
        const v = isPrime(n);
        return { value: v, comment: `${n} is ${v ? '' : 'not '}prime` };
      },
    },
  },
});
