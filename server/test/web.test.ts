import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from "../testing/support.ts";

/** Previews need an admin token (auth.test.ts checks who else is refused). */
const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

// The HTTP port's non-RPC routes: the built dashboard and image previews.

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

function get(port: number, pathname: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: pathname, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

let dir: string;
let t: TestService;
const INDEX = "<!doctype html><title>media dashboard</title>";
const SCRIPT = `console.log(${JSON.stringify("x".repeat(4000))});`;
const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "web-"));
  await mkdir(path.join(dir, "dist/assets"), { recursive: true });
  await writeFile(path.join(dir, "dist/index.html"), INDEX);
  await writeFile(path.join(dir, "dist/assets/index-abc123.js"), SCRIPT);
  await mkdir(path.join(dir, "files/photos"), { recursive: true });
  await writeFile(path.join(dir, "files/photos/cat.png"), PNG);
  await writeFile(path.join(dir, "files/notes.txt"), "plain text");
  await writeFile(path.join(dir, "secret.png"), "outside the store");
  await symlink(path.join(dir, "secret.png"), path.join(dir, "files/photos/link.png"));
  t = await startTestService({
    DASHBOARD_DIR: path.join(dir, "dist"),
    STORES: `default=file:${path.join(dir, "files")}`,
  });
});
after(async () => {
  await t.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("dashboard", () => {
  test("serves index.html for the dashboard's routes, never cached", async () => {
    for (const route of ["/", "/media", "/media/42", "/failures?x=1"]) {
      const answer = await get(t.service.httpPort, route);
      assert.equal(answer.status, 200, route);
      assert.equal(answer.body.toString(), INDEX);
      assert.match(String(answer.headers["content-type"]), /^text\/html/);
      assert.equal(answer.headers["cache-control"], "no-cache");
    }
  });

  test("serves hashed assets for a year, gzipped when the browser accepts it", async () => {
    const plain = await get(t.service.httpPort, "/assets/index-abc123.js");
    assert.equal(plain.status, 200);
    assert.equal(plain.body.toString(), SCRIPT);
    assert.match(String(plain.headers["cache-control"]), /immutable/);
    const zipped = await get(t.service.httpPort, "/assets/index-abc123.js", { "accept-encoding": "gzip, br" });
    assert.equal(zipped.headers["content-encoding"], "gzip");
    assert.ok(zipped.body.length < SCRIPT.length / 10);
    assert.equal(gunzipSync(zipped.body).toString(), SCRIPT);
  });

  test("answers 404 for missing files and paths outside the build, 405 for other methods", async () => {
    assert.equal((await get(t.service.httpPort, "/assets/missing.js")).status, 404);
    assert.equal((await get(t.service.httpPort, "/../files/notes.txt")).status, 404);
    assert.equal((await get(t.service.httpPort, "/assets/%2e%2e%2f%2e%2e%2ffiles%2fnotes.txt")).status, 404);
    const post = await get(t.service.httpPort, "/", {}, "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
    assert.equal((await get(t.service.httpPort, "/healthz")).body.toString(), "ok\n");
  });

  test("refuses to be framed by another site", async () => {
    const answer = await get(t.service.httpPort, "/media/1");
    assert.equal(answer.headers["x-frame-options"], "DENY");
    assert.match(String(answer.headers["content-security-policy"]), /frame-ancestors 'none'/);
    assert.match(String(answer.headers["content-security-policy"]), /script-src 'self';/);
  });

  test("survives a request target that is not a URL", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(t.service.httpPort, "127.0.0.1", () => {
        socket.write("GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk.toString();
      });
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal((await get(t.service.httpPort, "/healthz")).status, 200, "the service still serves");
  });

  test("says how to build the dashboard while it is missing, and serves it once built", async () => {
    const later = path.join(dir, "later-dist");
    const bare = await startTestService({ DASHBOARD_DIR: later });
    try {
      const missing = await get(bare.service.httpPort, "/");
      assert.equal(missing.status, 503);
      assert.match(missing.body.toString(), /npm run build/);
      await mkdir(later);
      await writeFile(path.join(later, "index.html"), INDEX);
      assert.equal((await get(bare.service.httpPort, "/")).body.toString(), INDEX);
    } finally {
      await bare.stop();
    }
  });
});

describe("image previews", () => {
  async function register(key: string, contentType: string): Promise<bigint> {
    const { media } = await t.media.createMedia({ store: "default", key, contentType, sizeBytes: 16n });
    assert.ok(media);
    return media.id;
  }

  test("streams an image's bytes with its type, under a policy that runs no script", async () => {
    const id = await register("photos/cat.png", "image/png");
    const answer = await get(t.service.httpPort, `/preview/${id}`, ADMIN);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, PNG);
    assert.equal(answer.headers["content-type"], "image/png");
    assert.match(String(answer.headers["content-security-policy"]), /default-src 'none'.*sandbox/);
    assert.equal(answer.headers["x-content-type-options"], "nosniff");
  });

  test("sends only a canonical image type, never the registered text", async () => {
    const cases: Array<[string, number, string | undefined]> = [
      ["Image/PNG; charset=x", 200, "image/png"],
      ["image/png,text/html", 415, undefined],
      ["image/€", 415, undefined],
      ["image/x-unknown", 415, undefined],
    ];
    for (const [index, [contentType, status, sent]] of cases.entries()) {
      const id = await register(`photos/type-${index}.png`, contentType);
      await writeFile(path.join(dir, `files/photos/type-${index}.png`), PNG);
      const answer = await get(t.service.httpPort, `/preview/${id}`, ADMIN);
      assert.equal(answer.status, status, contentType);
      if (sent !== undefined) assert.equal(answer.headers["content-type"], sent);
    }
  });

  test("answers HEAD with the headers only", async () => {
    const id = await register("photos/head.png", "image/png");
    await writeFile(path.join(dir, "files/photos/head.png"), PNG);
    const answer = await get(t.service.httpPort, `/preview/${id}`, ADMIN, "HEAD");
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["content-length"], String(PNG.length));
    assert.equal(answer.body.length, 0);
  });

  test("refuses media that are not images, unknown ids, missing files and bad paths", async () => {
    const text = await register("notes.txt", "text/plain");
    const gone = await register("photos/gone.png", "image/png");
    assert.equal((await get(t.service.httpPort, `/preview/${text}`, ADMIN)).status, 415);
    assert.equal((await get(t.service.httpPort, `/preview/${gone}`, ADMIN)).status, 404);
    assert.equal((await get(t.service.httpPort, "/preview/999999", ADMIN)).status, 404);
    assert.equal((await get(t.service.httpPort, "/preview/abc", ADMIN)).status, 404);
  });

  test("never follows a symbolic link at the key out of the store", async () => {
    const id = await register("photos/link.png", "image/png");
    const answer = await get(t.service.httpPort, `/preview/${id}`, ADMIN);
    assert.notEqual(answer.status, 200);
    assert.doesNotMatch(answer.body.toString(), /outside the store/);
  });
});
