import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { parseCrontab } from "graphile-worker";
import { ConfigError, loadConfig, parseDurationSeconds, trashRetentionOf } from "../src/config.ts";

describe("configuration", () => {
  test("defaults give a working laptop setup", () => {
    const config = loadConfig({}, "/srv/app");
    assert.equal(config.grpcPort, 50051);
    assert.equal(config.httpPort, 8080);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, "/srv/app/.data");
    assert.equal(config.gracePeriodSeconds, 7 * 86400);
    assert.equal(config.pendingTtlSeconds, 86400);
    const { authFailuresPerSecond, authFailureBurst, requestTimeoutSeconds, idleTimeoutSeconds } = config.limits;
    assert.deepEqual(
      [authFailuresPerSecond, authFailureBurst, requestTimeoutSeconds, idleTimeoutSeconds],
      [10, 20, 10, 120],
    );
    assert.deepEqual([config.limits.maxConcurrentStreams, config.limits.maxConnections], [100, 1000]);
    assert.equal(loadConfig({ AUTH_FAILURE_LIMIT: "0" }).limits.authFailureBurst, 0);
    assert.deepEqual(
      [...config.stores.values()],
      [
        {
          name: "default",
          kind: "disk",
          root: "/srv/app/.data/files",
          createRoot: true,
          trashRetentionSeconds: undefined,
        },
      ],
    );
    assert.ok(Object.isFrozen(config));
  });

  test("tokens come from AUTH_TOKENS and AUTH_TOKENS_FILE together, and error messages never show a secret", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tokens-"));
    writeFileSync(
      path.join(dir, "tokens"),
      "# name:scope:secret\nblog:service:blog-0123456789abcdef0123456789\n\nprom:metrics:prom-0123456789abcdef0123456789 # scraper\n",
    );
    const config = loadConfig(
      { AUTH_TOKENS: "ops:admin:ops-0123456789abcdef0123456789:with:colons", AUTH_TOKENS_FILE: "tokens" },
      dir,
    );
    assert.deepEqual(
      config.tokens.map((t) => [t.name, t.scope, t.secret]),
      [
        ["ops", "admin", "ops-0123456789abcdef0123456789:with:colons"],
        ["blog", "service", "blog-0123456789abcdef0123456789"],
        ["prom", "metrics", "prom-0123456789abcdef0123456789"],
      ],
    );
    writeFileSync(path.join(dir, "empty"), "# nothing yet\n\n");
    assert.throws(() => loadConfig({ AUTH_TOKENS_FILE: "empty" }, dir), /AUTH_TOKENS_FILE="empty" holds no token/);
    writeFileSync(path.join(dir, "bad"), "ok:service:blog-0123456789abcdef0123456789\nx:admin:tooshort-secret\n");
    assert.throws(
      () => loadConfig({ AUTH_TOKENS_FILE: "bad" }, dir),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^AUTH_TOKENS_FILE line 2: the secret needs at least 24/.test(error.message) &&
        !error.message.includes("tooshort-secret"),
    );
  });

  test("an empty value means unset, for every setting", () => {
    const empty = Object.fromEntries(
      ["HOST", "DATA_DIR", "DASHBOARD_DIR", "GRACE_PERIOD", "LOG_LEVEL", "SWEEP_SCHEDULE", "STORES", "AUTH_TOKENS"].map(
        (name) => [name, ""],
      ),
    );
    assert.deepEqual(loadConfig(empty, "/srv/app"), loadConfig({}, "/srv/app"));
  });

  test("a malformed token entry is refused without quoting any part of it", () => {
    const secret = "3f1c9a0b7d2e4f6a8c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
    for (const entries of [secret, `ops:${secret}`, `ops:admin`, `${secret}:admin:x`, `a:admin:${secret},${secret}`]) {
      assert.throws(
        () => loadConfig({ AUTH_TOKENS: entries }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /^AUTH_TOKENS entry \d( is not NAME:SCOPE:SECRET|: the secret needs)/.test(error.message) &&
          !error.message.includes(secret.slice(0, 12)),
        entries,
      );
    }
  });

  test("SWEEP_SCHEDULE accepts what graphile-worker's crontab runs, and refuses the rest naming the field", () => {
    const accepted = [
      "* * * * *",
      "*/5 * * * *",
      "0,15,30,45 * * * *",
      "0 3 * * 1-5",
      "30 2 1,15 * 0",
      "0 0 * * 7",
      "5-7 * * * 6-7",
      "59 23 31 12 *",
      "*/100 * * * *",
      "0\t3  * * *",
    ];
    const refused: [string, RegExp][] = [
      ["* * * *", /five-field/],
      ["* * * * * *", /five-field/],
      ["99 * * * *", /the minute field \(99\) is invalid: 99 is outside 0-59/],
      ["* 24 * * *", /the hour field \(24\).*outside 0-23/],
      ["* * 0 * *", /the day of month field \(0\).*outside 1-31/],
      ["* * * 13 *", /the month field \(13\).*outside 1-12/],
      ["* * * * 8", /the day of week field \(8\).*outside 0-7/],
      ["0-60 * * * *", /minute field.*0-60 goes outside 0-59/],
      ["5-5 * * * *", /minute field.*must end above where it starts/],
      ["*/0 * * * *", /minute field.*step in \*\/0 must be at least 1/],
      ["1-30/5 * * * *", /minute field.*"1-30\/5" is not a number/],
      ["0 0 * * mon", /day of week field.*"mon" is not a number/],
      ["0 0 * jan *", /month field.*"jan"/],
      ["1,,2 * * * *", /minute field.*empty list entry/],
      ["? * * * *", /minute field/],
      ["@hourly", /five-field/],
    ];
    for (const schedule of accepted) {
      assert.equal(loadConfig({ SWEEP_SCHEDULE: schedule }).deletion.sweepSchedule, schedule.split(/\s+/).join(" "));
    }
    for (const [schedule, message] of refused) {
      assert.throws(
        () => loadConfig({ SWEEP_SCHEDULE: schedule }),
        (error: unknown) =>
          error instanceof ConfigError && error.message.startsWith("SWEEP_SCHEDULE=") && message.test(error.message),
        schedule,
      );
    }
    // The worker hands the schedule to graphile-worker's crontab: it must agree on every case.
    for (const schedule of [...accepted, ...refused.map(([s]) => s)]) {
      let runs = true;
      try {
        parseCrontab(`${schedule} sweep`);
      } catch {
        runs = false;
      }
      assert.equal(runs, accepted.includes(schedule), `graphile-worker and SWEEP_SCHEDULE disagree on "${schedule}"`);
    }
  });

  test("durations accept units and combinations", () => {
    assert.equal(parseDurationSeconds("90"), 90);
    assert.equal(parseDurationSeconds("15m"), 900);
    assert.equal(parseDurationSeconds("1d12h"), 129600);
    assert.equal(parseDurationSeconds("500ms"), 0.5);
    assert.equal(parseDurationSeconds("7 days"), undefined);
    assert.equal(parseDurationSeconds("-1h"), undefined);
  });

  test("named stores parse from file: and s3:// URLs", () => {
    const config = loadConfig(
      {
        STORES:
          "local=file:media, photos=s3://bucket/some/prefix?region=eu-west-1&endpoint=http://127.0.0.1:9000&forcePathStyle=true",
      },
      "/srv/app",
    );
    assert.deepEqual(config.stores.get("local"), {
      name: "local",
      kind: "disk",
      root: "/srv/app/media",
      createRoot: false,
      trashRetentionSeconds: undefined,
    });
    assert.deepEqual(config.stores.get("photos"), {
      name: "photos",
      kind: "s3",
      bucket: "bucket",
      prefix: "some/prefix/",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:9000",
      forcePathStyle: true,
      trashRetentionSeconds: undefined,
    });
  });

  test("TRASH_RETENTION, and a store's own trashRetention, set how long deleted files stay restorable", () => {
    const config = loadConfig(
      {
        TRASH_RETENTION: "30d",
        STORES:
          "local=file:media?trashRetention=0,photos=s3://bucket/p?region=eu-west-1&trashRetention=12h,docs=file:docs",
      },
      "/srv/app",
    );
    assert.equal(config.deletion.trashRetentionSeconds, 30 * 86400);
    assert.equal(config.stores.get("local")?.kind, "disk");
    assert.equal((config.stores.get("local") as { root: string }).root, "/srv/app/media");
    assert.equal(trashRetentionOf(config.deletion, "local"), 0);
    assert.equal(trashRetentionOf(config.deletion, "photos"), 12 * 3600);
    assert.equal(trashRetentionOf(config.deletion, "docs"), 30 * 86400);
    assert.equal(loadConfig({}).deletion.trashRetentionSeconds, 7 * 86400);
    assert.throws(
      () => loadConfig({ STORES: "a=file:x?trashRetention=soon" }),
      /trashRetention="soon" is not a duration/,
    );
    assert.throws(() => loadConfig({ STORES: "a=file:x?colour=red" }), /unknown option "colour"/);
    assert.throws(() => loadConfig({ TRASH_RETENTION: "forever" }), /TRASH_RETENTION="forever" is not a duration/);
  });

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ GRPC_PORT: "http" }, /^GRPC_PORT="http" must be a whole number from 0 to 65535$/],
    [{ HTTP_PORT: "70000" }, /^HTTP_PORT=/],
    [{ GRACE_PERIOD: "a week" }, /^GRACE_PERIOD="a week" is not a duration; use forms like/],
    [{ PENDING_TTL: "1y" }, /^PENDING_TTL=/],
    [{ DATABASE_URL: "mysql://x" }, /^DATABASE_URL must look like postgres:\/\//],
    [{ LOG_LEVEL: "loud" }, /^LOG_LEVEL="loud" must be one of/],
    [{ STORES: "default" }, /^STORES entry "default" needs a name/],
    [{ STORES: "a=file:x,a=file:y" }, /^STORES names "a" twice/],
    [{ STORES: "a=ftp://x" }, /^STORES: store "a" URL "ftp:\/\/x" must start with file: or s3:\/\//],
    [{ STORES: "a=s3://b?colour=red" }, /^STORES: store "a" has unknown option "colour"/],
    [{ STORES: "a=s3://b?forcePathStyle=yes" }, /forcePathStyle must be true or false/],
    [
      { CLAIM_TIMEOUT: "1m", STORAGE_TIMEOUT: "30s" },
      /^CLAIM_TIMEOUT="1m" must be at least three times STORAGE_TIMEOUT="30s"/,
    ],
    [{ STORAGE_TIMEOUT: "0s" }, /^STORAGE_TIMEOUT must be more than 0/],
    [{ STORES: "a=s3://bucket/%zz" }, /not valid percent-encoding/],
    [{ GRACE_PERIOD: "100000d" }, /^GRACE_PERIOD="100000d" must be at most 3650d$/],
    [{ AUTH_TOKENS: "ops:root:0123456789abcdef0123456789" }, /^AUTH_TOKENS entry 1 is not NAME:SCOPE:SECRET/],
    [{ AUTH_TOKENS: "ops:admin:short" }, /^AUTH_TOKENS entry 1: the secret needs at least 24 characters/],
    [{ AUTH_TOKENS: "bad name:admin:0123456789abcdef0123456789" }, /^AUTH_TOKENS entry 1 is not NAME:SCOPE:SECRET/],
    [
      { AUTH_TOKENS: "a:admin:0123456789abcdef0123456789,a:service:abcdef0123456789abcdef0123" },
      /^token name "a" is used twice/,
    ],
    [
      { AUTH_TOKENS: "a:admin:0123456789abcdef0123456789,b:service:0123456789abcdef0123456789" },
      /^tokens "a" and "b" share a secret/,
    ],
    [{ AUTH_TOKENS_FILE: "/nonexistent/tokens" }, /^AUTH_TOKENS_FILE="\/nonexistent\/tokens" cannot be read: ENOENT/],
    [{ GRPC_TLS_CERT: "/x.crt" }, /^GRPC_TLS_CERT and GRPC_TLS_KEY must be set together/],
    [{ GRPC_TLS_CLIENT_CA: "/ca.crt" }, /^GRPC_TLS_CLIENT_CA needs GRPC_TLS_CERT and GRPC_TLS_KEY/],
    [{ RATE_LIMIT: "10", RATE_LIMIT_BURST: "0" }, /^RATE_LIMIT_BURST="0" must be a whole number from 1/],
    [{ MAX_DEADLINE: "soon" }, /^MAX_DEADLINE="soon" is not a duration/],
    [{ AUTH_FAILURE_LIMIT: "5", AUTH_FAILURE_BURST: "0" }, /^AUTH_FAILURE_BURST="0" must be a whole number from 1/],
    [{ REQUEST_TIMEOUT: "0s" }, /^REQUEST_TIMEOUT="0s" must be more than 0 and at most 1d$/],
    [{ IDLE_TIMEOUT: "2d" }, /^IDLE_TIMEOUT="2d" must be more than 0 and at most 1d$/],
    [{ MAX_CONCURRENT_STREAMS: "0" }, /^MAX_CONCURRENT_STREAMS="0" must be a whole number from 1 to 100000$/],
  ];
  for (const [env, message] of bad) {
    test(`rejects ${JSON.stringify(env)} naming the variable`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }
});
