// The seed's randomness: a seeded generator, so every run seeds the same
// catalogue, and the two draws the catalogue makes from it.

export type Random = () => number;

/** mulberry32: a tiny seeded generator, so every run seeds the same catalogue. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const between = (random: Random, min: number, max: number) => min + random() * (max - min);
export const hex = (random: Random) =>
  Math.floor(random() * 0xffffffff)
    .toString(16)
    .padStart(8, "0");
