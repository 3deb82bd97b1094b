// The whole demo catalogue, in a fixed order from a fixed seed, so every run
// seeds the same media.
import type { Config } from "@media/server/config";
import { Catalogue, type DemoMedia } from "./demo-media.ts";
import { brokenMedia, exportMedia, supportMedia } from "./documents.ts";
import { avatarMedia, blogMedia, shopMedia } from "./images.ts";
import { createRandom } from "./random.ts";

export function buildCatalogue(config: Config, now: number): DemoMedia[] {
  const c = new Catalogue(createRandom(2026), config.pendingTtlSeconds);
  return [
    ...blogMedia(c),
    ...shopMedia(c),
    ...avatarMedia(c),
    ...exportMedia(c, now),
    ...supportMedia(c),
    ...brokenMedia(c),
  ];
}
