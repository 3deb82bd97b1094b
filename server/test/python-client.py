"""A Python caller of the media service, on code generated from proto/.

server/test/python-client.test.ts generates the modules with protoc and
grpc_python_plugin (the commands are in docs/api.md), puts them on PYTHONPATH
and runs this script against a test service's gRPC port:

  MEDIA_GRPC_TARGET  host:port of the gRPC port
  MEDIA_TOKEN        a token with service scope
  MEDIA_OWNER        the owner to link, unique per run

It runs every check, prints one line per check (ok / FAIL and why) and exits 1
when any failed, so a failure names every broken part of the contract at once.
Needs Debian's python3-grpcio and python3-protobuf, nothing else.
"""

import os
import sys
import traceback
import uuid

import grpc
from google.rpc import error_details_pb2, status_pb2
from health.v1 import health_pb2, health_pb2_grpc
from media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc

TARGET = os.environ["MEDIA_GRPC_TARGET"]
TOKEN = os.environ["MEDIA_TOKEN"]
OWNER = os.environ["MEDIA_OWNER"]
# Every call carries the token (gRPC metadata) and a deadline.
METADATA = (("authorization", f"Bearer {TOKEN}"),)
TIMEOUT_S = 5
DOMAIN = "media-lifecycle"


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def failed_call(call):
    """Runs a call that must fail and returns its grpc.RpcError."""
    try:
        call()
    except grpc.RpcError as error:
        return error
    raise CheckFailed("the call succeeded")


def status_details(error, code):
    """The google.rpc.Status a failed call carries in its grpc-status-details-bin trailer."""
    expect(error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}")
    trailer = [value for key, value in (error.trailing_metadata() or ()) if key == "grpc-status-details-bin"]
    expect(trailer, f"{code.name} without a grpc-status-details-bin trailer (no google.rpc.Status): {error.details()}")
    status = status_pb2.Status.FromString(trailer[0])
    expect(
        status.code == code.value[0],
        f"google.rpc.Status.code is {status.code}, the call's gRPC code {code.value[0]}",
    )
    return status


def unpack_all(status, message_type):
    """Every detail of the given type in a google.rpc.Status."""
    found = []
    for detail in status.details:
        if detail.Is(message_type.DESCRIPTOR):
            message = message_type()
            detail.Unpack(message)
            found.append(message)
    return found


def main():
    channel = grpc.insecure_channel(TARGET)
    media = media_service_pb2_grpc.MediaServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    results = []

    # @check(name) runs the function below it at once and records how it ended.
    def check(name):
        def run(body):
            try:
                body()
                results.append((name, None))
            except CheckFailed as failure:
                results.append((name, str(failure)))
            except grpc.RpcError as error:
                results.append((name, f"unexpected {error.code().name}: {error.details()}"))
            except Exception:
                results.append((name, traceback.format_exc()))

        return run

    @check("CreateMedia, LinkMedia and GetMedia")
    def _():
        created = media.CreateMedia(
            media_service_pb2.CreateMediaRequest(
                store="default",
                key=f"python-client/{uuid.uuid4()}.png",
                content_type="image/png",
                size_bytes=4096,
                labels={"app": "python-client"},
            ),
            metadata=METADATA,
            timeout=TIMEOUT_S,
        )
        expect(created.created, "CreateMedia of a new key answered created = false")
        expect(created.media.state == media_pb2.MEDIA_STATE_PENDING, f"created: {created.media}")
        linked = media.LinkMedia(
            media_service_pb2.LinkMediaRequest(media_id=created.media.id, owner=OWNER),
            metadata=METADATA,
            timeout=TIMEOUT_S,
        )
        expect(linked.changed, "the first LinkMedia answered changed = false")
        got = media.GetMedia(
            media_service_pb2.GetMediaRequest(id=created.media.id), metadata=METADATA, timeout=TIMEOUT_S
        )
        expect(got.media.id == created.media.id, f"GetMedia answered another media: {got.media}")
        expect(got.media.state == media_pb2.MEDIA_STATE_LINKED, f"state {media_pb2.MediaState.Name(got.media.state)}")
        expect(got.media.reference_count == 1, f"reference_count {got.media.reference_count}")
        expect(got.media.size_bytes == 4096, f"size_bytes {got.media.size_bytes}")
        expect(dict(got.media.labels) == {"app": "python-client"}, f"labels {dict(got.media.labels)}")

    @check("GetMedia of an unknown id: NOT_FOUND with google.rpc.ErrorInfo MEDIA_NOT_FOUND")
    def _():
        error = failed_call(
            lambda: media.GetMedia(media_service_pb2.GetMediaRequest(id=987654321), metadata=METADATA, timeout=TIMEOUT_S)
        )
        infos = unpack_all(status_details(error, grpc.StatusCode.NOT_FOUND), error_details_pb2.ErrorInfo)
        expect(infos, "the google.rpc.Status carries no google.rpc.ErrorInfo")
        expect(
            any(info.reason == "MEDIA_NOT_FOUND" and info.domain == DOMAIN for info in infos),
            f"expected ErrorInfo reason MEDIA_NOT_FOUND, domain {DOMAIN!r}; got "
            + "; ".join(f"reason {i.reason!r}, domain {i.domain!r}" for i in infos),
        )

    @check("CreateMedia with an empty key: INVALID_ARGUMENT with google.rpc.BadRequest naming key")
    def _():
        error = failed_call(
            lambda: media.CreateMedia(
                media_service_pb2.CreateMediaRequest(store="default", key="", content_type="image/png", size_bytes=1),
                metadata=METADATA,
                timeout=TIMEOUT_S,
            )
        )
        requests = unpack_all(status_details(error, grpc.StatusCode.INVALID_ARGUMENT), error_details_pb2.BadRequest)
        expect(requests, "the google.rpc.Status carries no google.rpc.BadRequest")
        violations = [v for request in requests for v in request.field_violations]
        expect(
            any(v.field == "key" and v.description for v in violations),
            "expected a field violation on field 'key' with a description; got "
            + (", ".join(f"{v.field!r}: {v.description!r}" for v in violations) or "none"),
        )

    @check("grpc.health.v1.Health/Check: SERVING, without a token")
    def _():
        for service in ("", "media.v1.MediaService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
            expect(
                answer.status == health_pb2.HealthCheckResponse.SERVING,
                f"service {service!r}: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}",
            )

    channel.close()
    for name, failure in results:
        if failure is None:
            print(f"ok    {name}")
        else:
            print(f"FAIL  {name}: {failure}")
    return 1 if any(failure is not None for _, failure in results) else 0


if __name__ == "__main__":
    sys.exit(main())
