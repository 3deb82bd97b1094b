import { type DescFile, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type DescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { file_google_rpc_error_details } from "@media/proto/google/rpc/error_details_pb";
import { service as healthService } from "grpc-health-check";

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha.ServerReflection) for
 * the gRPC port, so grpcurl and `buf curl` need no copy of the schema. It
 * describes the services given (from their protobuf-es descriptors, with every
 * file they import), grpc.health.v1.Health (health.ts) and itself.
 *
 * Reflection is schema only and the contract is public (proto/), so, like
 * health, it needs no token: the gate runs only on the guarded services'
 * methods (grpc-server.ts). The transport's limits still apply to it as to any
 * call: message size, concurrent streams, connections, and REQUEST_TIMEOUT,
 * which resets a reflection stream still open after it (clients open another);
 * and a stream reads no further requests while its answers wait to be sent.
 */

/** @grpc/reflection reads only `fileDescriptorProtos` off each entry of a proto-loader package definition. */
type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** What a proto-loader service definition (health's, reflection's own) carries of its schema. */
type LoadedService = Record<string, { requestType?: { fileDescriptorProtos?: readonly Uint8Array[] } }>;

/** The files, then every file they import, each once. */
function withImports(files: Iterable<DescFile>): DescFile[] {
  const found = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (found.has(file.name)) return;
    found.set(file.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const file of files) visit(file);
  return [...found.values()];
}

/** protoc's name for a map field's entry message: `statuses` → `StatusesEntry`, `foo_bar` → `FooBarEntry`. */
function mapEntryName(fieldName: string): string {
  let name = "";
  let capitalize = true;
  for (const char of fieldName) {
    if (char === "_") capitalize = true;
    else {
      name += capitalize ? char.toUpperCase() : char;
      capitalize = false;
    }
  }
  return `${name}Entry`;
}

/**
 * A file descriptor made by protobufjs (proto-loader describes its services
 * with it), rewritten as protoc writes it. protobufjs names a map field's
 * entry message after the field (`Statuses`, not `StatusesEntry`), which Go's
 * protodesc (buf curl, grpcurl) refuses, and names field types relative to
 * their scope (`HealthCheckResponse`, not `.grpc.health.v1.HealthCheckResponse`),
 * which protobuf-es, among others, cannot resolve: health's file would be
 * unusable.
 */
function asProtocWrites(bytes: Uint8Array): Uint8Array {
  const file = fromBinary(FileDescriptorProtoSchema, bytes);
  const renameMapEntries = (message: DescriptorProto): void => {
    for (const nested of message.nestedType) renameMapEntries(nested);
    for (const field of message.field) {
      const entry = message.nestedType.find(
        (nested) => nested.options?.mapEntry === true && nested.name === field.typeName,
      );
      if (entry === undefined) continue;
      entry.name = mapEntryName(field.name);
      field.typeName = entry.name;
    }
  };
  const declared = new Set<string>();
  const declare = (scope: string, message: DescriptorProto): void => {
    const name = `${scope}.${message.name}`;
    declared.add(name);
    for (const nested of message.nestedType) declare(name, nested);
    for (const enumType of message.enumType) declared.add(`${name}.${enumType.name}`);
  };
  // The innermost scope, then the ones around it, that declares the name.
  const resolve = (scope: string, name: string): string | undefined => {
    for (let outer = scope; ; outer = outer.slice(0, outer.lastIndexOf("."))) {
      if (declared.has(`${outer}.${name}`)) return `${outer}.${name}`;
      if (outer === "") return undefined;
    }
  };
  const qualify = (scope: string, message: DescriptorProto): void => {
    const name = `${scope}.${message.name}`;
    for (const field of message.field) {
      if (field.typeName !== "" && !field.typeName.startsWith(".")) {
        field.typeName = resolve(name, field.typeName) ?? field.typeName;
      }
    }
    for (const nested of message.nestedType) qualify(name, nested);
  };
  const pkg = file.package === "" ? "" : `.${file.package}`;
  for (const message of file.messageType) renameMapEntries(message);
  for (const message of file.messageType) declare(pkg, message);
  for (const enumType of file.enumType) declared.add(`${pkg}.${enumType.name}`);
  for (const message of file.messageType) qualify(pkg, message);
  return toBinary(FileDescriptorProtoSchema, file);
}

/** The files a proto-loader service definition was loaded from (@grpc/reflection keeps one file per name). */
const descriptorsOf = (service: LoadedService): Uint8Array[] =>
  Object.values(service).flatMap((method) => (method.requestType?.fileDescriptorProtos ?? []).map(asProtocWrites));

let servedBesides: Uint8Array[] | undefined;

/**
 * The files of health and of reflection itself, once per process. Both come
 * as proto-loader definitions: grpc-health-check's, and those @grpc/reflection
 * loads from its own .proto files when it is added to a server, read off an
 * empty instance.
 */
function healthAndReflectionFiles(): Uint8Array[] {
  if (servedBesides === undefined) {
    const files = descriptorsOf(healthService as unknown as LoadedService);
    new ReflectionService({}).addToServer({
      addService: (definition) => files.push(...descriptorsOf(definition as unknown as LoadedService)),
    });
    servedBesides = files;
  }
  return servedBesides;
}

/**
 * @grpc/reflection answers every request on a stream as it arrives, whether
 * or not the client reads the answers. Each stream stops reading requests
 * while its answers wait to be sent, so a client that does not read cannot
 * make the server buffer them: HTTP/2 flow control holds its requests back.
 */
function readWhileDrained(stream: grpc.ServerDuplexStream<unknown, unknown>): void {
  // Registered after the implementation's own listener, so it runs after each answer is written.
  stream.on("data", () => {
    if (!stream.writableNeedDrain) return;
    stream.pause();
    stream.once("drain", () => stream.resume());
  });
}

function withBackpressure(implementation: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  const bounded: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(implementation)) {
    bounded[name] = (stream: grpc.ServerDuplexStream<unknown, unknown>) => {
      (handler as (stream: grpc.ServerDuplexStream<unknown, unknown>) => void)(stream);
      readWhileDrained(stream);
    };
  }
  return bounded;
}

/** Serves reflection v1 and v1alpha on the server, describing the services given, health and reflection. */
export function addReflection(server: Pick<grpc.Server, "addService">, services: readonly DescService[]): void {
  const fileDescriptorProtos = [
    // The error details every error carries (google.rpc), so a reflecting client can decode them too.
    ...withImports([...services.map((service) => service.file), file_google_rpc_error_details]).map((file) =>
      toBinary(FileDescriptorProtoSchema, file.proto),
    ),
    ...healthAndReflectionFiles(),
  ];
  // The entry's name is not read: one entry carries every file.
  const definition = { schema: { fileDescriptorProtos } } as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer({
    addService: (service, implementation) => server.addService(service, withBackpressure(implementation)),
  });
}
