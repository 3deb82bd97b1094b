import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@media/proto/google/rpc/error_details_pb";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { type ListEventsRequestSchema, MediaService } from "@media/proto/media/v1/media_service_pb";
import pg from "pg";
import { feedEnd, before as precedes, SCAN_LIMIT } from "../src/media/event-feed.ts";
import { createFeedWatcher } from "../src/media/feed-watcher.ts";
import {
  connectTransport,
  expectCode,
  grpcTransport,
  type IsolatedPostgres,
  startIsolatedPostgres,
  startTestService,
  TEST_ADMIN_TOKEN,
  TEST_TOKENS_ENV,
  type TestService,
  waitFor,
} from "../testing/support.ts";

// The change feed (MediaService.ListEvents) on a real service, on both ports:
// its order is the writing transactions' (xact, id), and it shows nothing a
// transaction still running could precede, so a follower paging through
// gets every event exactly once even while transactions commit out of id
// order; its long poll, filters, limited tokens and start_at_end.

const STORE_TOKEN = "feed-store-token-0123456789abcdef0123";
const OWNER_TOKEN = "feed-owner-token-0123456789abcdef0123";
let t: TestService;
let postgres: IsolatedPostgres;
let dir: string;
let seq = 0;

type Request = MessageInitShape<typeof ListEventsRequestSchema>;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "event-feed-"));
  for (const store of ["default", "photos"]) await mkdir(path.join(dir, store));
  // A PostgreSQL of its own: the feed's horizon is the whole cluster's oldest running transaction, so
  // another test file's open transaction on the shared server would hold these tests' events back.
  postgres = await startIsolatedPostgres();
  t = await startTestService(
    {
      STORES: `default=file:${path.join(dir, "default")},photos=file:${path.join(dir, "photos")}`,
      AUTH_TOKENS: `${TEST_TOKENS_ENV.AUTH_TOKENS},feed-store:service:${STORE_TOKEN},feed-owner:service:${OWNER_TOKEN}`,
      AUTH_TOKEN_LIMITS: JSON.stringify({ "feed-store": { stores: ["default"] }, "feed-owner": { owners: ["blog/"] } }),
      GRACE_PERIOD: "1h",
    },
    postgres.url,
  );
});
after(async () => {
  await t.stop();
  await postgres.stop();
  await rm(dir, { recursive: true, force: true });
});

const ports = {
  "HTTP port (Connect)": (token = TEST_ADMIN_TOKEN) =>
    createClient(MediaService, connectTransport(t.service.httpPort, token)),
  "gRPC port": (token = TEST_ADMIN_TOKEN) => createClient(MediaService, grpcTransport(t.service.grpcPort, token)),
};

async function create(store = "default", owner?: string): Promise<bigint> {
  const { media } = await t.media.createMedia({
    store,
    key: `feed/${++seq}.jpg`,
    sizeBytes: 1n,
    ...(owner === undefined ? {} : { owner }),
  });
  assert.ok(media);
  return media.id;
}

/** The feed's current end, as a follower starting now would get it. */
const endOfFeed = async () => (await t.media.listEvents({ startAtEnd: true })).nextAfterEventId;

/** Every event id after `from`, in feed order, read straight from the table. */
async function feedOrder(from: bigint): Promise<bigint[]> {
  const { rows } = await t.sql.query<{ event_id: string }>(
    `SELECT id::text AS event_id FROM media_events
     WHERE (xact, id) > (coalesce((SELECT xact FROM media_events WHERE id = $1), '0'::xid8), $1)
     ORDER BY xact, id`,
    [from.toString()],
  );
  return rows.map((r) => BigInt(r.event_id));
}

/** Pages through the feed from `from` until caught up; returns the event ids read and the last cursor. */
async function readAll(
  media: Client<typeof MediaService>,
  from: bigint,
  request: Request = {},
): Promise<{ ids: bigint[]; next: bigint; calls: number }> {
  const ids: bigint[] = [];
  let next = from;
  let calls = 0;
  for (;;) {
    const page = await media.listEvents({ ...request, afterEventId: next });
    calls++;
    ids.push(...page.events.map((e) => e.id));
    next = page.nextAfterEventId;
    if (page.caughtUp) return { ids, next, calls };
  }
}

/** A raw connection with a transaction open that has taken its transaction id (its place in the feed). */
async function openTransaction(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: t.databaseUrl });
  await client.connect();
  await client.query("BEGIN");
  await client.query("SELECT pg_current_xact_id()");
  return client;
}

/** Writes an event in the client's open transaction; answers its id. */
async function writeEvent(client: pg.Client, mediaId: bigint): Promise<bigint> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
     VALUES ($1, 'HELD', 'PENDING', 'PENDING', 'raw', 'written late') RETURNING id::text`,
    [mediaId.toString()],
  );
  return BigInt(rows[0]?.id ?? 0);
}

/** The database's clock now, to tell queries started later apart. */
const dbNow = async (sql: pg.Pool): Promise<Date> => (await sql.query("SELECT clock_timestamp() AS now")).rows[0].now;

/** Waits until a server's feed watcher has read the feed's end since `since`: a call is waiting. */
async function watcherRan(sql: pg.Pool, since: Date): Promise<void> {
  await waitFor(async () => {
    const { rows } = await sql.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND query LIKE '%ORDER BY e.xact DESC, e.id DESC LIMIT 1%'
         AND query_start > $1 AND pid <> pg_backend_pid()`,
      [since],
    );
    return rows[0].n > 0;
  }, "the feed watcher to read the feed's end");
}

for (const [port, clientFor] of Object.entries(ports)) {
  describe(port, () => {
    test("an open transaction's event holds later commits back; once it commits, the feed gives both in (xact, id) order", async () => {
      const media = clientFor();
      const start = await endOfFeed();
      const a = await create();
      const b = await create();
      const firstCreated = await readAll(media, start);
      assert.equal(firstCreated.ids.length, 2);
      // The open transaction takes its transaction id first, then a later transaction
      // commits an event, then the open one writes its own (a higher id, a lower xact).
      const open = await openTransaction();
      try {
        await media.linkMedia({ mediaId: b, owner: `post/${++seq}` });
        const lateId = await writeEvent(open, a);
        const held = await media.listEvents({ afterEventId: firstCreated.next });
        assert.deepEqual(held.events, [], "nothing past the open transaction is shown");
        assert.equal(held.nextAfterEventId, firstCreated.next);
        assert.equal(held.caughtUp, true);
        await open.query("COMMIT");
        const linked = (await t.sql.query("SELECT max(id)::text AS id FROM media_events WHERE type = 'LINKED'")).rows[0]
          .id;
        const after = await readAll(media, firstCreated.next);
        assert.deepEqual(
          after.ids,
          [lateId, BigInt(linked)],
          "the open transaction's event first, though its id is higher",
        );
        assert.ok(lateId > BigInt(linked));
      } finally {
        await open.end();
      }
    });

    test("a follower paging through concurrent, out-of-order commits gets every event exactly once, in feed order", async () => {
      const media = clientFor();
      const start = await endOfFeed();
      const ids = await Promise.all(Array.from({ length: 4 }, () => create()));
      let writing = true;
      const seen: bigint[] = [];
      const follower = (async () => {
        let next = start;
        let caughtUpAfterWrites = false;
        while (!caughtUpAfterWrites) {
          const done = !writing;
          const page = await media.listEvents({ afterEventId: next, pageSize: 3 });
          seen.push(...page.events.map((e) => e.id));
          next = page.nextAfterEventId;
          caughtUpAfterWrites = done && page.caughtUp;
        }
      })();
      for (let round = 0; round < 6; round++) {
        // Each round: a transaction holds an event open while others commit past it.
        const held = await openTransaction();
        await Promise.all(ids.map((id) => media.linkMedia({ mediaId: id, owner: `round/${round}` })));
        await writeEvent(held, ids[round % ids.length] as bigint);
        await held.query("COMMIT");
        await held.end();
      }
      writing = false;
      await follower;
      const expected = await feedOrder(start);
      assert.equal(expected.length, 4 + 6 + 6 * 4);
      assert.deepEqual(seen, expected, "each event once, in (xact, id) order");
      assert.notDeepEqual(
        [...expected].sort((x, y) => (x < y ? -1 : 1)),
        expected,
        "the writes committed out of id order",
      );
    });

    test("a waiting call wakes for a new event; one that finds nothing answers empty after its wait", async () => {
      const media = clientFor();
      const end = await endOfFeed();
      let started = performance.now();
      const empty = await media.listEvents({ afterEventId: end, wait: durationFromMs(400) });
      const waited = performance.now() - started;
      assert.deepEqual([empty.events, empty.nextAfterEventId, empty.caughtUp], [[], end, true]);
      assert.ok(waited >= 380, `answered after ${waited} ms, before its wait of 400 ms`);

      started = performance.now();
      const since = await dbNow(t.sql);
      const waiting = media.listEvents({ afterEventId: end, wait: durationFromMs(20_000) });
      await watcherRan(t.sql, since);
      const id = await create();
      const woke = await waiting;
      assert.deepEqual(
        woke.events.map((e) => [e.mediaId, e.type]),
        [[id, MediaEventType.CREATED]],
      );
      assert.ok(performance.now() - started < 15_000, "woke before its wait was over");
      assert.equal(woke.nextAfterEventId, woke.events[0]?.id);
    });

    test("the call's deadline bounds the wait: an empty answer, not DEADLINE_EXCEEDED", async () => {
      const media = clientFor();
      const end = await endOfFeed();
      const started = performance.now();
      const page = await media.listEvents({ afterEventId: end, wait: durationFromMs(30_000) }, { timeoutMs: 1500 });
      const took = performance.now() - started;
      assert.deepEqual([page.events, page.caughtUp], [[], true]);
      assert.ok(took >= 1000 && took < 1500, `answered after ${took} ms`);
    });

    test("start_at_end skips what is committed; the follower then reads only new events", async () => {
      const media = clientFor();
      await create();
      const { rows } = await t.sql.query("SELECT max(id)::text AS id FROM media_events");
      const atEnd = await media.listEvents({ startAtEnd: true, pageSize: 5 });
      assert.deepEqual([atEnd.events, atEnd.nextAfterEventId, atEnd.caughtUp], [[], BigInt(rows[0].id), true]);
      const id = await create();
      const next = await media.listEvents({ afterEventId: atEnd.nextAfterEventId });
      assert.deepEqual(
        next.events.map((e) => e.mediaId),
        [id],
      );
    });

    test("bad requests are INVALID_ARGUMENT naming the field", async () => {
      const media = clientFor();
      const { rows } = await t.sql.query("SELECT max(id) + 1000 AS id FROM media_events");
      const cases: Array<[Request, string]> = [
        [{ afterEventId: BigInt(rows[0].id) }, "after_event_id"],
        [{ afterEventId: -1n }, "after_event_id"],
        [{ pageSize: 1001 }, "page_size"],
        [{ store: "elsewhere" }, "store"],
        [{ types: [MediaEventType.UNSPECIFIED] }, "types[0]"],
        [{ wait: durationFromMs(30_001) }, "wait"],
        [{ wait: { seconds: -1n, nanos: 0 } }, "wait"],
        [{ startAtEnd: true, afterEventId: 1n }, "start_at_end"],
        [{ startTime: timestampFromDate(new Date(2000)), endTime: timestampFromDate(new Date(1000)) }, "end_time"],
      ];
      for (const [request, field] of cases) {
        const error = await expectCode(media.listEvents(request), Code.InvalidArgument, field);
        const info = error.findDetails(ErrorInfoSchema)[0];
        assert.equal(
          info?.metadata.field,
          field,
          JSON.stringify(request, (_, v) => String(v)),
        );
      }
    });
  });
}

describe("filters and reach", () => {
  let start: bigint;
  let middle: Date;
  const made: Record<string, bigint> = {};

  before(async () => {
    start = await endOfFeed();
    made.blog = await create("default", "blog/1");
    made.shop = await create("photos", "shop/1");
    middle = (await t.sql.query("SELECT clock_timestamp() AS now")).rows[0].now;
    const service = createClient(MediaService, connectTransport(t.service.httpPort, STORE_TOKEN));
    made.late = (await service.createMedia({ store: "default", key: `feed/${++seq}.jpg`, sizeBytes: 1n })).media
      ?.id as bigint;
    await t.media.linkMedia({ mediaId: made.late, owner: "shop/2" });
    // Erased: its row is gone, and its ERASED event still carries its store.
    const { receipts } = await t.admin.eraseMedia({ mediaIds: [made.shop], reason: "test" });
    assert.equal(receipts.length, 1);
  });

  const kinds = (events: { mediaId: bigint; type: MediaEventType }[]) =>
    events.map(
      (e) =>
        `${e.mediaId === made.blog ? "blog" : e.mediaId === made.shop ? "shop" : "late"}:${MediaEventType[e.type]}`,
    );

  test("every event, as written", async () => {
    const { ids } = await readAll(t.media, start);
    const page = await t.media.listEvents({ afterEventId: start });
    assert.equal(ids.length, page.events.length);
    assert.deepEqual(kinds(page.events), [
      "blog:CREATED",
      "blog:LINKED",
      "shop:CREATED",
      "shop:LINKED",
      "late:CREATED",
      "late:LINKED",
      "shop:CLAIMED",
      "shop:ERASED",
    ]);
  });

  test("types, owner_prefix, store, actor and the time range", async () => {
    const read = async (request: Request) =>
      kinds((await t.media.listEvents({ afterEventId: start, ...request })).events);
    assert.deepEqual(await read({ types: [MediaEventType.LINKED, MediaEventType.ERASED] }), [
      "blog:LINKED",
      "shop:LINKED",
      "late:LINKED",
      "shop:ERASED",
    ]);
    // The erasure redacted the erased media's owner names: shop/1 is gone from its LINKED event.
    assert.deepEqual(await read({ ownerPrefix: "shop/" }), ["late:LINKED"]);
    assert.deepEqual(await read({ store: "photos" }), ["shop:CREATED", "shop:LINKED", "shop:CLAIMED", "shop:ERASED"]);
    assert.deepEqual(await read({ actor: "feed-store" }), ["late:CREATED"]);
    assert.deepEqual(await read({ startTime: timestampFromDate(middle) }), [
      "late:CREATED",
      "late:LINKED",
      "shop:CLAIMED",
      "shop:ERASED",
    ]);
    assert.deepEqual(await read({ endTime: timestampFromDate(middle) }), [
      "blog:CREATED",
      "blog:LINKED",
      "shop:CREATED",
      "shop:LINKED",
    ]);
  });

  for (const [port, clientFor] of Object.entries(ports)) {
    test(`limited tokens see only their reach (${port})`, async () => {
      const byStore = await readAll(clientFor(STORE_TOKEN), start);
      const byOwner = await readAll(clientFor(OWNER_TOKEN), start);
      const names = async (ids: bigint[]) => {
        const { events } = await t.media.listEvents({ afterEventId: start });
        return kinds(events.filter((e) => ids.includes(e.id)));
      };
      assert.deepEqual(await names(byStore.ids), ["blog:CREATED", "blog:LINKED", "late:CREATED", "late:LINKED"]);
      assert.deepEqual(await names(byOwner.ids), [
        "blog:CREATED",
        "blog:LINKED",
        "shop:CREATED",
        "shop:LINKED", // its owner redacted by the erasure: an event without an owner
        "late:CREATED",
        "shop:CLAIMED",
        "shop:ERASED",
      ]);
      // Filtered out or not, the cursor moves over what was examined.
      assert.equal(byStore.next, byOwner.next);
      assert.equal(
        (await clientFor(STORE_TOKEN).listEvents({ afterEventId: start, store: "photos" })).events.length,
        0,
      );
    });
  }

  test("a call examines at most SCAN_LIMIT events: a filter that matches little still moves on", async () => {
    const from = await endOfFeed();
    await t.sql.query(
      `INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT $1, 'HELD', 'PENDING', 'PENDING', 'bulk', 'many' FROM generate_series(1, $2)`,
      [String(made.blog), SCAN_LIMIT + 50],
    );
    const last = BigInt((await t.sql.query("SELECT max(id)::text AS id FROM media_events")).rows[0].id);
    const first = await t.media.listEvents({ afterEventId: from, actor: "nobody" });
    assert.deepEqual([first.events, first.caughtUp], [[], false]);
    assert.equal(first.nextAfterEventId, (await feedOrder(from))[SCAN_LIMIT - 1]);
    const second = await t.media.listEvents({ afterEventId: first.nextAfterEventId, actor: "nobody" });
    assert.deepEqual([second.events, second.nextAfterEventId, second.caughtUp], [[], last, true]);
    const { ids, calls } = await readAll(t.media, from, { pageSize: 1000 });
    assert.equal(ids.length, SCAN_LIMIT + 50);
    assert.equal(calls, 11);
  });
});

describe("events and their store", () => {
  test("an event takes its media's store; one naming no store for a media without a row is refused", async () => {
    const id = await create("photos");
    const { rows } = await t.sql.query("SELECT store FROM media_events WHERE media_id = $1", [id.toString()]);
    assert.deepEqual(
      rows.map((r) => r.store),
      ["photos"],
    );
    await assert.rejects(
      t.sql.query("INSERT INTO media_events (media_id, type, actor) VALUES (987654321, 'DELETED', 'x')"),
      /names no store/,
    );
    await t.sql.query(
      "INSERT INTO media_events (media_id, type, actor, store) VALUES (987654321, 'DELETED', 'x', 'default')",
    );
  });

  test("the append-only log still refuses changes, to xact and store too", async () => {
    const id = await create("photos", "blog/redacted");
    await assert.rejects(
      t.sql.query("UPDATE media_events SET store = 'default' WHERE media_id = $1", [id.toString()]),
      /append-only/,
    );
    await assert.rejects(
      t.sql.query("UPDATE media_events SET owner = NULL, store = 'default' WHERE media_id = $1 AND owner IS NOT NULL", [
        id.toString(),
      ]),
      /append-only/,
    );
    await t.sql.query("UPDATE media_events SET owner = NULL WHERE media_id = $1 AND owner IS NOT NULL", [
      id.toString(),
    ]);
  });
});

test("a waiting call does not hold the server's shutdown up", async () => {
  const other = await startTestService({ SHUTDOWN_TIMEOUT: "20s" });
  const end = (await other.media.listEvents({ startAtEnd: true })).nextAfterEventId;
  const since = await dbNow(other.sql);
  const waiting = other.media.listEvents({ afterEventId: end, wait: durationFromMs(30_000) });
  await watcherRan(other.sql, since);
  const started = performance.now();
  await other.sql.end();
  await other.service.stop(20_000);
  const page = await waiting;
  assert.deepEqual([page.events, page.caughtUp], [[], true]);
  assert.ok(performance.now() - started < 5000, "stopped without waiting for the long poll");
});

describe("the feed watcher", () => {
  test("one read per interval for all waiting calls; it wakes those it passed, and ends waits on abort and close", async () => {
    let reads = 0;
    const watcher = createFeedWatcher(t.sql, 50, (pool) => {
      reads++;
      return feedEnd(pool);
    });
    const end = await feedEnd(t.sql);
    const past = { xact: end.xact + 1_000_000n, id: 0n };
    const never = new AbortController().signal;
    const started = performance.now();
    const waits = Array.from({ length: 20 }, () => watcher.waitPast(past, performance.now() + 600, never));
    assert.deepEqual(await Promise.all(waits), Array(20).fill(false), "nothing passed them: each wait ran out");
    const elapsed = performance.now() - started;
    assert.ok(
      reads >= 3 && reads <= elapsed / 50 + 2,
      `${reads} reads in ${Math.round(elapsed)} ms for 20 waiting calls`,
    );

    const woken = watcher.waitPast(end, performance.now() + 10_000, never);
    const aborted = new AbortController();
    const cancelled = watcher.waitPast(past, performance.now() + 10_000, aborted.signal);
    await create();
    assert.equal(await woken, true, "a new event passed it");
    assert.ok(precedes(end, await feedEnd(t.sql)));
    aborted.abort();
    assert.equal(await cancelled, false);
    const closing = watcher.waitPast(past, performance.now() + 10_000, never);
    watcher.close();
    assert.equal(await closing, false);
    assert.equal(await watcher.waitPast(end, performance.now() + 10_000, never), false, "closed: at once");
  });
});
