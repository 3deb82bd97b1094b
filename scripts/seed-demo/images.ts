// The catalogue's image media: blog covers and inline images, shop product
// photos, user avatars, each with the references, replacements and uploads a
// living service accumulates.
import { DAY, MINUTE } from "./common.ts";
import { type Catalogue, type DemoMedia, demo, LINKED, png } from "./demo-media.ts";
import { between, hex } from "./random.ts";

export function blogMedia(c: Catalogue): DemoMedia[] {
  const base = { labels: { team: "blog" }, actor: "blog-service" };
  const items: DemoMedia[] = [];
  for (let post = 101; post <= 140; post++) {
    // Posts are numbered in order of writing, so older posts have older images.
    const ageDays = ((141 - post) / 40) * 29 + between(c.random, 0, 0.8);
    const deleted = post % 9 === 0; // deleted since: their images lost their last reference
    const owners = [`blog/posts/${post}#cover`];
    if (post % 4 === 0) owners.push(`newsletter/issues/${post - 70}#hero`);
    if (post % 10 === 3) owners.push("blog/home#featured");
    items.push(
      demo({
        ...base,
        key: `demo/blog/posts/${post}/cover.png`,
        content: png("landscape", post, 160, 120),
        ageDays,
        ...c.references(deleted, owners),
        hold: post === 120 ? "copyright claim under review (ticket T-8841)" : undefined,
      }),
    );
    if (post % 2 === 0) {
      items.push(
        demo({
          ...base,
          key: `demo/blog/posts/${post}/inline-1.png`,
          content: png("pattern", post, 160, 120),
          ageDays,
          ...c.references(deleted, [`blog/posts/${post}#body`]),
        }),
      );
    }
  }
  // Covers an editor replaced: the draft lost its only reference.
  for (const post of [112, 124, 131]) {
    items.push(
      demo({
        ...base,
        key: `demo/blog/posts/${post}/cover-draft.png`,
        content: png("landscape", post + 500, 160, 120),
        ageDays: ((141 - post) / 40) * 29,
        formerOwners: [`blog/posts/${post}#cover`],
        fate: c.orphan(),
      }),
    );
  }
  // Uploads from the editor that were never attached to a post.
  for (let i = 0; i < 5; i++) {
    items.push(
      demo({
        ...base,
        key: `demo/blog/uploads/${hex(c.random)}.png`,
        content: png(i % 2 === 0 ? "landscape" : "pattern", 900 + i, 160, 120),
        ageDays: 0,
        fate: c.pending(),
        hold: i === 2 ? "flagged by the image scanner: manual review" : undefined,
      }),
    );
  }
  return items;
}

export function shopMedia(c: Catalogue): DemoMedia[] {
  const base = { labels: { team: "shop" }, actor: "shop-service" };
  const items: DemoMedia[] = [];
  for (let n = 2001; n <= 2030; n++) {
    const sku = `SKU-${n}`;
    const ageDays = between(c.random, 0.5, 30);
    const discontinued = n % 7 === 0;
    const owners = [`shop/products/${sku}#main`];
    if (n % 5 === 0) owners.push("shop/collections/winter-2026#tile");
    if (n % 6 === 1) owners.push("shop/campaigns/black-friday#banner");
    items.push(
      demo({
        ...base,
        key: `demo/shop/products/sku-${n}/main.png`,
        content: png("product", n, 120, 120),
        ageDays,
        ...c.references(discontinued, owners),
      }),
    );
    if (n % 2 === 1) {
      const gallery = [`shop/products/${sku}#gallery`];
      // Some gallery images also ran in last season's collection, which dropped them since.
      const refs =
        !discontinued && n % 3 === 0
          ? { owners: gallery, formerOwners: ["shop/collections/autumn-2026#tile"], fate: LINKED }
          : c.references(discontinued, gallery);
      items.push(
        demo({
          ...base,
          key: `demo/shop/products/sku-${n}/alt-1.png`,
          content: png("product", n + 1, 120, 120),
          ageDays,
          ...refs,
        }),
      );
    }
  }
  // Product photos replaced by a new shot. One is under a legal hold: overdue, yet never deleted.
  for (const n of [2004, 2011, 2018, 2025]) {
    const held = n === 2011;
    items.push(
      demo({
        ...base,
        key: `demo/shop/products/sku-${n}/main-v1.png`,
        content: png("product", n + 2, 120, 120),
        ageDays: between(c.random, 10, 30),
        formerOwners: [`shop/products/SKU-${n}#main`],
        fate: held ? { kind: "orphaned", dueIn: -2 * DAY } : c.orphan(),
        hold: held ? "legal hold: case 2026-114" : undefined,
      }),
    );
  }
  // Products being created right now, and an import that was abandoned (past its pending TTL).
  for (const [n, overdue] of [
    [2031, false],
    [2032, false],
    [2033, true],
  ] as const) {
    items.push(
      demo({
        ...base,
        key: `demo/shop/products/sku-${n}/main.png`,
        content: png("product", n, 120, 120),
        ageDays: 0,
        fate: c.pending(overdue),
      }),
    );
  }
  return items;
}

export function avatarMedia(c: Catalogue): DemoMedia[] {
  const base = { labels: { kind: "avatar" }, actor: "accounts-service" };
  const items: DemoMedia[] = [];
  for (let user = 1; user <= 40; user++) {
    items.push(
      demo({
        ...base,
        key: `demo/avatars/user-${user}.png`,
        content: png("avatar", user, 96, 96),
        ageDays: between(c.random, 0.2, 30),
        // Closed accounts: UnlinkOwner dropped their avatar's reference.
        ...c.references(user % 11 === 0, [`accounts/users/${user}#avatar`]),
      }),
    );
  }
  // Avatars users replaced. One was claimed by a worker that died mid-batch.
  for (const user of [4, 9, 15, 23, 31]) {
    items.push(
      demo({
        ...base,
        key: `demo/avatars/user-${user}-previous.png`,
        content: png("avatar", user + 100, 96, 96),
        ageDays: between(c.random, 8, 30),
        formerOwners: [`accounts/users/${user}#avatar`],
        fate: user === 9 ? { kind: "stuck", dueIn: -between(c.random, 2 * MINUTE, 30 * MINUTE) } : c.orphan(),
      }),
    );
  }
  // Sign-ups that uploaded a picture and have not finished yet.
  for (let i = 0; i < 3; i++) {
    items.push(
      demo({
        ...base,
        key: `demo/avatars/signups/${hex(c.random)}.png`,
        content: png("avatar", 300 + i, 96, 96),
        ageDays: 0,
        fate: c.pending(),
      }),
    );
  }
  return items;
}
