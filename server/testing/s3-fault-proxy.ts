import http from "node:http";
import type { AddressInfo } from "node:net";

// An HTTP proxy in front of s3rver that injects the faults real S3 produces:
// per-key Errors inside a 200 DeleteObjects answer, CopyObject requests
// answered with an error, HeadObject answered 403, 503 SlowDown bursts, and
// slow answers. Faulted keys are removed from the forwarded request, and
// faulted copies and HEADs are not forwarded, so they really are not deleted
// or copied. It also counts the requests it sees.

export interface S3FaultProxy {
  readonly endpoint: string;
  /** Keys (full object keys) that DeleteObjects reports as failed, and does not delete, until cleared. */
  readonly failingKeys: Set<string>;
  /**
   * Source keys (full object keys) whose CopyObject is answered with this status and S3 error
   * code, and not forwarded, until cleared.
   */
  readonly failingCopies: Map<string, { status: number; code: string }>;
  /** Keys (full object keys) whose HeadObject is answered 403 with no body, as S3 answers a HEAD it refuses. */
  readonly forbiddenHeads: Set<string>;
  /** The source key of every CopyObject request seen, faulted ones included. */
  readonly copies: string[];
  /** Requests seen, of every kind. */
  requests: number;
  /** The next n requests are answered 503 SlowDown. */
  slowDown(n: number): void;
  /** Answers are delayed by this many milliseconds. */
  delayMs: number;
  /** DeleteObjects requests seen, with their key counts. */
  readonly deleteRequests: number[];
  /**
   * Holds DeleteObjects until release(), to freeze a worker at a chosen point:
   * "request" does not forward it (nothing is deleted), "response" forwards it
   * (objects are deleted) but does not answer. `held` counts frozen requests.
   */
  hold: "request" | "response" | undefined;
  held: number;
  /** Stops holding, and lets every request still held (its caller still connected) go on. */
  release(): void;
  /** Headers and body of the last DeleteObjects request, as the client sent them. */
  lastDelete: { headers: http.IncomingHttpHeaders; body: Buffer } | undefined;
  close(): Promise<void>;
}

const readBody = (stream: http.IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });

const SLOW_DOWN = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`;

const errorAnswer = (code: string) => `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>${code}</Code><Message>injected failure</Message></Error>`;

const errorEntries = (keys: string[]) =>
  keys
    .map((k) => `<Error><Key>${k}</Key><Code>InternalError</Code><Message>injected failure</Message></Error>`)
    .join("");

const deleteResult = (faulted: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${errorEntries(faulted)}</DeleteResult>`;

export async function startS3FaultProxy(targetPort: number): Promise<S3FaultProxy> {
  let slowDowns = 0;
  const frozen = new Set<() => void>();
  /** Resolves on release(); never, if the caller hangs up first (a killed worker). */
  const freeze = (res: http.ServerResponse) =>
    new Promise<void>((resume) => {
      frozen.add(resume);
      res.on("close", () => frozen.delete(resume));
    });
  const proxy: S3FaultProxy = {
    endpoint: "",
    failingKeys: new Set(),
    failingCopies: new Map(),
    forbiddenHeads: new Set(),
    copies: [],
    requests: 0,
    slowDown: (n) => {
      slowDowns = n;
    },
    delayMs: 0,
    deleteRequests: [],
    hold: undefined,
    held: 0,
    release: () => {
      proxy.hold = undefined;
      for (const resume of frozen) resume();
      frozen.clear();
    },
    lastDelete: undefined,
    close: async () => {},
  };

  const server = http.createServer(async (req, res) => {
    let body = await readBody(req);
    proxy.requests++;
    if (proxy.delayMs > 0) await new Promise((r) => setTimeout(r, proxy.delayMs));
    if (slowDowns > 0) {
      slowDowns--;
      res.writeHead(503, { "content-type": "application/xml" }).end(SLOW_DOWN);
      return;
    }
    // Path style: /bucket/key, each segment URL-encoded.
    const objectKey = decodeURIComponent((req.url ?? "").split("?")[0]?.replace(/^\/[^/]*\//, "") ?? "");
    if (req.method === "HEAD" && proxy.forbiddenHeads.has(objectKey)) {
      res.writeHead(403).end();
      return;
    }
    const copySource = req.headers["x-amz-copy-source"];
    if (req.method === "PUT" && typeof copySource === "string") {
      // "bucket/key" (or "/bucket/key"), URL-encoded: the key is what follows the bucket.
      const source = decodeURIComponent(copySource).replace(/^\/?[^/]*\//, "");
      proxy.copies.push(source);
      const fault = proxy.failingCopies.get(source);
      if (fault !== undefined) {
        res.writeHead(fault.status, { "content-type": "application/xml" }).end(errorAnswer(fault.code));
        return;
      }
    }
    const isDeleteObjects = req.method === "POST" && /[?&]delete(=|&|$)/.test(req.url ?? "");
    const hold = isDeleteObjects ? proxy.hold : undefined;
    if (hold === "request") {
      proxy.held++;
      await freeze(res);
    }
    const faulted: string[] = [];
    if (isDeleteObjects) {
      proxy.lastDelete = { headers: req.headers, body };
      let xml = body.toString();
      proxy.deleteRequests.push((xml.match(/<Object>/g) ?? []).length);
      xml = xml.replace(/<Object><Key>([^<]*)<\/Key><\/Object>/g, (whole, key: string) => {
        if (!proxy.failingKeys.has(key)) return whole;
        faulted.push(key);
        return "";
      });
      body = Buffer.from(xml);
      if (!xml.includes("<Object>")) {
        // Every key faulted: S3 would still answer 200 with only Errors.
        res.writeHead(200, { "content-type": "application/xml" }).end(deleteResult(faulted));
        return;
      }
    }
    const headers = { ...req.headers, "content-length": String(body.length) };
    const upstream = http.request(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers },
      async (answer) => {
        let out = await readBody(answer);
        if (hold === "response") {
          proxy.held++;
          await freeze(res);
        }
        if (isDeleteObjects && faulted.length > 0) {
          out = Buffer.from(out.toString().replace("</DeleteResult>", `${errorEntries(faulted)}</DeleteResult>`));
        }
        const answerHeaders = { ...answer.headers, "content-length": String(out.length) };
        res.writeHead(answer.statusCode ?? 500, answerHeaders).end(out);
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    upstream.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}
