import net from "node:net";
import { Transform, type TransformCallback } from "node:stream";

/** The answer to one request, held back by the proxy until released. */
export interface HeldAnswer {
  /** Resolves once a request matched and its answer is being held. */
  readonly holding: Promise<void>;
  /** Lets the held answer, and everything after it on that connection, through. */
  release(): void;
}

/** A TCP proxy for injecting faults at the network boundary. */
export interface TcpProxy {
  readonly port: number;
  /** Drops every connection and refuses new ones. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /**
   * Holds back the answer to the `occurrence`-th request (counted over all
   * connections from now on) whose bytes contain `marker`, say a piece of SQL:
   * the server has run it, the client has not heard. A process waiting for
   * that answer is frozen at a known point.
   */
  holdAnswerTo(marker: string, occurrence?: number): HeldAnswer;
  close(): Promise<void>;
}

/** Passes bytes through, or keeps them while closed. */
class Gate extends Transform {
  #held: Buffer[] | undefined;
  close(): void {
    this.#held ??= [];
  }
  open(): void {
    for (const chunk of this.#held ?? []) this.push(chunk);
    this.#held = undefined;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.#held === undefined) this.push(chunk);
    else this.#held.push(chunk);
    done();
  }
}

interface Hold {
  readonly marker: Buffer;
  readonly occurrence: number;
  seen: number;
  gate: Gate | undefined;
  matched(): void;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let hold: Hold | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const answers = new Gate();
    const requests = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        // Close the gate before the request goes on, so no byte of its answer slips through.
        if (hold !== undefined && hold.gate === undefined && chunk.includes(hold.marker)) {
          hold.seen++;
          if (hold.seen === hold.occurrence) {
            hold.gate = answers;
            answers.close();
            hold.matched();
          }
        }
        done(null, chunk);
      },
    });
    client.pipe(requests).pipe(upstream);
    upstream.pipe(answers).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<number>((resolve) =>
      server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
    );
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()));
  const port = await listen(0);
  return {
    port,
    async cut() {
      const closed = stopListening();
      for (const s of sockets) s.destroy();
      await closed;
    },
    async restore() {
      await listen(port);
    },
    holdAnswerTo(marker, occurrence = 1) {
      let matched = () => {};
      const holding = new Promise<void>((resolve) => {
        matched = resolve;
      });
      const current: Hold = { marker: Buffer.from(marker), occurrence, seen: 0, gate: undefined, matched };
      hold = current;
      return {
        holding,
        release() {
          current.gate?.open();
          if (hold === current) hold = undefined;
        },
      };
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (server.listening) await stopListening();
    },
  };
}
