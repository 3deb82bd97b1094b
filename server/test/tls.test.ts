import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, test } from "node:test";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { grpcServiceDefinition } from "../src/api/grpc-server.ts";
import { bearerMetadata, startTestService } from "../testing/support.ts";

// TLS and mutual TLS on the gRPC port, with certificates made by openssl for this run.

const openssl = (dir: string, ...args: string[]) => promisify(execFile)("openssl", args, { cwd: dir });

interface Pki {
  readonly dir: string;
  pem(name: string): Promise<Buffer>;
}

let pki: Pki;

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, plus a client from another CA. */
async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(path.join(tmpdir(), "pki-"));
  const ca = async (name: string) =>
    openssl(
      dir,
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
    );
  const leaf = async (name: string, issuer: string, extensions: string) => {
    await writeFile(path.join(dir, `${name}.ext`), extensions);
    await openssl(
      dir,
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${issuer}.crt`,
      "-CAkey",
      `${issuer}.key`,
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    );
  };
  await ca("ca");
  await ca("rogue-ca");
  await leaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  await leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
  await leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  return { dir, pem: (name) => readFile(path.join(dir, name)) };
}

before(async () => {
  pki = await makePki();
});

function getMedia(port: number, credentials: grpc.ChannelCredentials): Promise<unknown> {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(MediaService), "MediaService");
  const client = new Client(`127.0.0.1:${port}`, credentials) as grpc.Client & Record<string, Function>;
  return new Promise((resolve, reject) =>
    client.getMedia!.call(
      client,
      { id: 999_999n },
      bearerMetadata(),
      { deadline: Date.now() + 3000 },
      (error: grpc.ServiceError | null) => {
        client.close();
        // NOT_FOUND means the call got through TLS and the token check to the handler.
        if (error?.code === grpc.status.NOT_FOUND) resolve("through");
        else reject(error ?? new Error("unexpected success"));
      },
    ),
  );
}

test("mutual TLS: only clients with a certificate from the trusted CA get through", async () => {
  const t = await startTestService({
    GRPC_TLS_CERT: path.join(pki.dir, "server.crt"),
    GRPC_TLS_KEY: path.join(pki.dir, "server.key"),
    GRPC_TLS_CLIENT_CA: path.join(pki.dir, "ca.crt"),
  });
  try {
    const ca = await pki.pem("ca.crt");
    const port = t.service.grpcPort;
    assert.equal(
      await getMedia(port, grpc.credentials.createSsl(ca, await pki.pem("client.key"), await pki.pem("client.crt"))),
      "through",
    );
    await assert.rejects(getMedia(port, grpc.credentials.createSsl(ca)), { code: grpc.status.UNAVAILABLE });
    await assert.rejects(
      getMedia(port, grpc.credentials.createSsl(ca, await pki.pem("rogue.key"), await pki.pem("rogue.crt"))),
      { code: grpc.status.UNAVAILABLE },
    );
    await assert.rejects(getMedia(port, grpc.credentials.createInsecure()), { code: grpc.status.UNAVAILABLE });
    // The HTTP port is unchanged (TLS there belongs to the proxy in front of it).
    assert.equal(await t.media.getMedia({ id: 999_999n }).catch((e) => e.code), 5);
  } finally {
    await t.stop();
  }
});

test("TLS without a client CA serves any client that trusts the server", async () => {
  const t = await startTestService({
    GRPC_TLS_CERT: path.join(pki.dir, "server.crt"),
    GRPC_TLS_KEY: path.join(pki.dir, "server.key"),
  });
  try {
    const port = t.service.grpcPort;
    assert.equal(await getMedia(port, grpc.credentials.createSsl(await pki.pem("ca.crt"))), "through");
    await assert.rejects(getMedia(port, grpc.credentials.createSsl(await pki.pem("rogue-ca.crt"))), {
      code: grpc.status.UNAVAILABLE,
    });
  } finally {
    await t.stop();
  }
});
