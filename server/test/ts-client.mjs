// What another service writes against the installed @media/proto package:
// server/test/ts-client.test.ts copies this file into a fresh project that
// installed the packed tarball, type-checks it there against the package's
// .d.ts (tsc --checkJs) and runs it against a test service. It prints one
// JSON line with what it saw.
//
//   MEDIA_URL       http://127.0.0.1:<port> (the gRPC port, or the HTTP port with MEDIA_PROTOCOL=connect)
//   MEDIA_PROTOCOL  grpc | connect
//   MEDIA_TOKEN     a token with service scope
//   MEDIA_OWNER     the owner to link, unique per run
import { Code, ConnectError } from "@connectrpc/connect";
import { createMediaClient, MediaState } from "@media/proto";

const { MEDIA_URL, MEDIA_PROTOCOL, MEDIA_TOKEN, MEDIA_OWNER } = process.env;
if (!MEDIA_URL || !MEDIA_TOKEN || !MEDIA_OWNER || (MEDIA_PROTOCOL !== "grpc" && MEDIA_PROTOCOL !== "connect")) {
  throw new Error("set MEDIA_URL, MEDIA_PROTOCOL (grpc or connect), MEDIA_TOKEN and MEDIA_OWNER");
}

const client = createMediaClient(MEDIA_URL, MEDIA_TOKEN, { protocol: MEDIA_PROTOCOL, defaultTimeoutMs: 5000 });

/**
 * The code a call failed with.
 * @param {() => Promise<unknown>} call
 */
async function failure(call) {
  try {
    await call();
  } catch (error) {
    return Code[ConnectError.from(error).code];
  }
  throw new Error("the call succeeded");
}

try {
  const { media: created, created: isNew } = await client.media.createMedia({
    store: "default",
    key: `ts-client/${MEDIA_PROTOCOL}/${crypto.randomUUID()}.jpg`,
    contentType: "image/jpeg",
    sizeBytes: 48_213n,
    labels: { app: "ts-client" },
  });
  if (created === undefined) throw new Error("CreateMedia answered without a media");
  const linked = await client.media.linkMedia({ mediaId: created.id, owner: MEDIA_OWNER }, { timeoutMs: 2000 });
  const { media: got } = await client.media.getMedia({ id: created.id });
  if (got === undefined) throw new Error("GetMedia answered without a media");
  const result = {
    created: { isNew, state: MediaState[created.state], sizeBytes: created.sizeBytes.toString() },
    linked: { changed: linked.changed, state: linked.media ? MediaState[linked.media.state] : undefined },
    got: {
      sameId: got.id === created.id,
      state: MediaState[got.state],
      referenceCount: got.referenceCount.toString(),
      labels: got.labels,
    },
    missing: await failure(() => client.media.getMedia({ id: 987_654_321n })),
    // A service token may not call AdminService: the admin client is there and carries the token.
    adminWithServiceToken: await failure(() => client.admin.getStats({})),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  client.close();
}
