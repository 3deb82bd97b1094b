import { type DescMessage, fromBinary, fromJson, type JsonReadOptions, type JsonValue } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  type Compression,
  compressedFlag,
  type UniversalHandler,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import {
  parseContentType as connectContentType,
  headerContentType,
  headerUnaryEncoding,
} from "@connectrpc/connect/protocol-connect";
import { parseContentType as grpcContentType, headerEncoding } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as grpcWebContentType } from "@connectrpc/connect/protocol-grpc-web";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { binaryProblem } from "./binary-request-problems.ts";
import { malformedRequest } from "./errors.ts";
import { jsonProblem } from "./json-request-problems.ts";

// connect-es parses a request before any interceptor or handler runs, answers
// every binary parse error with INTERNAL "parse binary: ..." and JSON ones
// without naming the field. Its other hooks come too early (the request gate,
// before the body) or too late (interceptors, after parsing), and rewriting
// its error responses would mean re-encoding three protocols' error formats.
// The least fragile hook is the request body: each route reads it through the
// iterable it is given, after its request gate, so the check hands it one that
// reads the whole (unary) body, parses each message as connect is about to,
// and fails the read with INVALID_ARGUMENT naming the field, which every
// protocol then answers in its own format. What it cannot take apart (a
// streaming or text content type, an unknown encoding, a body over the size
// limit, a broken envelope) passes unchecked, for connect to refuse as before.

/** The request encodings the HTTP port accepts (connect-node's default), and the check decompresses. */
export const REQUEST_COMPRESSIONS: Compression[] = [compressionGzip, compressionBrotli];
/** The protobuf JSON mapping's default, which connect-es turns off: an unknown field or enum name is an error. */
export const JSON_READ_OPTIONS = { ignoreUnknownFields: false } satisfies Partial<JsonReadOptions>;

// gRPC and gRPC-Web frame each message: a flags byte and a big-endian length.
const ENVELOPE_HEADER_BYTES = 5;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

interface Framing {
  readonly enveloped: boolean;
  readonly binary: boolean;
  readonly compression: Compression | undefined;
}

/** How the route connect picks for this content type frames the body; undefined for what the check leaves alone. */
function framingOf(header: Headers): Framing | undefined {
  const contentType = header.get(headerContentType);
  const connect = connectContentType(contentType);
  const grpcWeb = grpcWebContentType(contentType);
  const grpc = grpcContentType(contentType);
  const type =
    connect !== undefined
      ? connect.stream
        ? undefined
        : { enveloped: false, binary: connect.binary, encoding: header.get(headerUnaryEncoding) }
      : grpcWeb !== undefined
        ? grpcWeb.text
          ? undefined
          : { enveloped: true, binary: grpcWeb.binary, encoding: header.get(headerEncoding) }
        : grpc !== undefined
          ? { enveloped: true, binary: grpc.binary, encoding: header.get(headerEncoding) }
          : undefined;
  if (type === undefined) return undefined;
  const compression = REQUEST_COMPRESSIONS.find((c) => c.name === type.encoding);
  if (compression === undefined && type.encoding !== null && type.encoding !== "identity") return undefined;
  return { enveloped: type.enveloped, binary: type.binary, compression };
}

/** The messages in a whole body, decompressed, up to the first frame connect would refuse by itself. */
async function messagesIn(body: Uint8Array, framing: Framing, readMaxBytes: number): Promise<Uint8Array[]> {
  const { compression } = framing;
  if (!framing.enveloped) return [compression === undefined ? body : await compression.decompress(body, readMaxBytes)];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const messages: Uint8Array[] = [];
  for (let at = 0; at + ENVELOPE_HEADER_BYTES <= body.byteLength; ) {
    const flags = view.getUint8(at);
    const end = at + ENVELOPE_HEADER_BYTES + view.getUint32(at + 1);
    if (end > body.byteLength) break;
    const data = body.subarray(at + ENVELOPE_HEADER_BYTES, end);
    if (flags === 0) messages.push(data);
    else if (flags === compressedFlag && compression !== undefined)
      messages.push(await compression.decompress(data, readMaxBytes));
    else break;
    at = end;
  }
  return messages;
}

/** Throws INVALID_ARGUMENT naming the field when a message would not parse. */
function checkMessage(input: DescMessage, message: Uint8Array, binary: boolean): void {
  if (binary) {
    try {
      fromBinary(input, message);
    } catch {
      throw malformedRequest(input.typeName, binaryProblem(input, message));
    }
    return;
  }
  let text: string;
  try {
    text = utf8.decode(message);
  } catch {
    // connect would read it with replacement characters.
    throw malformedRequest(input.typeName, { field: undefined, problem: "its JSON is not valid UTF-8" });
  }
  let json: JsonValue;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw malformedRequest(input.typeName, {
      field: undefined,
      problem: `its JSON does not parse (${messageOf(error)})`,
    });
  }
  try {
    fromJson(input, json, JSON_READ_OPTIONS);
  } catch (error) {
    throw malformedRequest(
      input.typeName,
      jsonProblem(input, json, error) ?? { field: undefined, problem: messageOf(error) },
    );
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function* checkedBody(
  body: AsyncIterable<Uint8Array>,
  input: DescMessage,
  framing: Framing,
  readMaxBytes: number,
): AsyncGenerator<Uint8Array> {
  const source = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let exhausted = false;
  try {
    for (let next = await source.next(); !next.done; next = await source.next()) {
      chunks.push(next.value);
      size += next.value.byteLength;
      if (size > readMaxBytes + ENVELOPE_HEADER_BYTES) {
        // Over the size limit: connect refuses it without parsing.
        yield* chunks;
        for (let rest = await source.next(); !rest.done; rest = await source.next()) yield rest.value;
        exhausted = true;
        return;
      }
    }
    exhausted = true;
    let messages: Uint8Array[] = [];
    try {
      messages = await messagesIn(
        chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks),
        framing,
        readMaxBytes,
      );
    } catch {
      // A body that does not decompress: connect answers that itself.
    }
    for (const message of messages) checkMessage(input, message, framing.binary);
    yield* chunks;
  } finally {
    if (!exhausted) await source.return?.();
  }
}

function checked(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const check = (request: UniversalServerRequest) => {
    const framing = framingOf(request.header);
    const { body } = request;
    if (framing === undefined || typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) {
      return handler(request);
    }
    return handler({ ...request, body: checkedBody(body, handler.method.input, framing, readMaxBytes) });
  };
  return Object.assign(check, handler);
}

/** Makes every route of the router check its requests first (call it after adding the services). */
export function checkRequests(router: ConnectRouter, readMaxBytes: number): void {
  router.handlers.splice(0, router.handlers.length, ...router.handlers.map((h) => checked(h, readMaxBytes)));
}
