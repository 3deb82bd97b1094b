// The matrix: every filter the dashboard offers alone, with selective and
// unselective values, and the common combinations; the bench runs each in all
// three orders.
import { MEDIA_STATES } from "@media/server/db";
import type { MediaFilter } from "@media/server/media";

export interface Case {
  readonly name: string;
  readonly filter: MediaFilter;
}

export function cases(rows: number): Case[] {
  const id = Math.floor(rows / 2);
  const post = `blog/posts/${Math.floor(id / 3)}#cover`;
  return [
    { name: "no filter", filter: {} },
    ...MEDIA_STATES.map((state) => ({ name: `state=${state}`, filter: { state } })),
    { name: "store=default (80%)", filter: { store: "default" } },
    { name: "store=archive (5%)", filter: { store: "archive" } },
    { name: "store=none (0)", filter: { store: "none" } },
    { name: `owner=${post} (≤3)`, filter: { owner: post } },
    { name: "owner=pages/42#body (~0.01%)", filter: { owner: "pages/42#body" } },
    { name: "owner=shop/catalog#gallery (0.8%)", filter: { owner: "shop/catalog#gallery" } },
    { name: "owner=nobody (0)", filter: { owner: "nobody#none" } },
    { name: "prefix=users/ (all)", filter: { keyPrefix: "users/" } },
    { name: "prefix=users/4242 (0.011%)", filter: { keyPrefix: "users/4242" } },
    { name: "prefix=users/4242/ (0.001%)", filter: { keyPrefix: "users/4242/" } },
    { name: "prefix=nope/ (0)", filter: { keyPrefix: "nope/" } },
    { name: "labels team=blog (20%)", filter: { labels: { team: "blog" } } },
    { name: "labels team=shop,env=staging (1.9%)", filter: { labels: { team: "shop", env: "staging" } } },
    { name: "labels campaign=x42 (0.01%)", filter: { labels: { campaign: "x42" } } },
    { name: "labels team=none (0)", filter: { labels: { team: "none" } } },
    { name: "store=archive labels campaign=x42", filter: { store: "archive", labels: { campaign: "x42" } } },
    { name: "state=LINKED store=default", filter: { state: "LINKED", store: "default" } },
    { name: "state=ORPHANED store=photos", filter: { state: "ORPHANED", store: "photos" } },
    { name: "state=FAILED store=archive", filter: { state: "FAILED", store: "archive" } },
    { name: "state=LINKED labels team=blog", filter: { state: "LINKED", labels: { team: "blog" } } },
    { name: "state=ORPHANED labels campaign=x42", filter: { state: "ORPHANED", labels: { campaign: "x42" } } },
    { name: "state=FAILED labels team=shop", filter: { state: "FAILED", labels: { team: "shop" } } },
    { name: "store=default prefix=users/4242/", filter: { store: "default", keyPrefix: "users/4242/" } },
    { name: "store=archive prefix=users/", filter: { store: "archive", keyPrefix: "users/" } },
    { name: "store=photos prefix=nope/", filter: { store: "photos", keyPrefix: "nope/" } },
    { name: "state=LINKED owner=pages/42#body", filter: { state: "LINKED", owner: "pages/42#body" } },
    {
      name: "state=LINKED owner=shop/catalog#gallery",
      filter: { state: "LINKED", owner: "shop/catalog#gallery" },
    },
    {
      name: "state=ORPHANED owner=shop/catalog#gallery (0)",
      filter: { state: "ORPHANED", owner: "shop/catalog#gallery" },
    },
    {
      name: "state+store+prefix+labels (LINKED default users/4242/ team=blog)",
      filter: { state: "LINKED", store: "default", keyPrefix: "users/4242/", labels: { team: "blog" } },
    },
    {
      name: "state+store+prefix+labels (ORPHANED photos users/ team=shop)",
      filter: { state: "ORPHANED", store: "photos", keyPrefix: "users/", labels: { team: "shop" } },
    },
  ];
}
