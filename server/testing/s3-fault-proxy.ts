import http from "node:http";
import type { AddressInfo } from "node:net";

// An HTTP proxy in front of s3rver that injects the faults real S3 produces:
// per-key Errors inside a 200 DeleteObjects answer, 503 SlowDown bursts, and
// slow answers. Faulted keys are removed from the forwarded request, so they
// really are not deleted.

export interface S3FaultProxy {
  readonly endpoint: string;
  /** Keys (full object keys) that DeleteObjects reports as failed, and does not delete, until cleared. */
  readonly failingKeys: Set<string>;
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
    if (proxy.delayMs > 0) await new Promise((r) => setTimeout(r, proxy.delayMs));
    if (slowDowns > 0) {
      slowDowns--;
      res.writeHead(503, { "content-type": "application/xml" }).end(SLOW_DOWN);
      return;
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
