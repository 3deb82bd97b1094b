// End to end: the ListMedia RPC over Connect (HTTP/1.1) against a started
// service, page 1 and the deep page, each timed cold and as a median.
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { type MediaFilter, type MediaOrder, stateToProto } from "@media/server/media";
import { BENCH_TOKEN, median } from "../shared.ts";
import { DEEP, PAGE_SIZE, RUNS } from "./settings.ts";

export type Admin = Client<typeof AdminService>;

/** An AdminService client on the service's HTTP port, with the bench's admin token. */
export function adminClient(httpPort: number): Admin {
  return createClient(
    AdminService,
    createConnectTransport({
      baseUrl: `http://127.0.0.1:${httpPort}`,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${BENCH_TOKEN}`);
          return next(req);
        },
      ],
    }),
  );
}

function request(filter: MediaFilter, order: MediaOrder, pageToken: string) {
  return {
    pageSize: PAGE_SIZE,
    pageToken,
    state: filter.state === undefined ? undefined : stateToProto(filter.state),
    store: filter.store ?? "",
    owner: filter.owner ?? "",
    keyPrefix: filter.keyPrefix ?? "",
    labels: filter.labels ?? {},
    orderBy: order,
  };
}

/** Cold (first) and median warm time of one page, and what it returned. */
async function timePage(admin: Admin, filter: MediaFilter, order: MediaOrder, token: string) {
  const times: number[] = [];
  let response: Awaited<ReturnType<Admin["listMedia"]>> | undefined;
  for (let i = 0; i <= RUNS; i++) {
    const started = performance.now();
    response = await admin.listMedia(request(filter, order, token));
    times.push(performance.now() - started);
    // A page that takes seconds is measured once more, not five times.
    if (i === 1 && (times[0] ?? 0) > 2000) break;
  }
  return { cold: times[0] ?? Number.NaN, median: median(times.slice(1)), response: response! };
}

/** Page 1, then the deepest page up to DEEP + 1 (reached by following next_page_token). */
export async function timeRpc(admin: Admin, filter: MediaFilter, order: MediaOrder) {
  const first = await timePage(admin, filter, order, "");
  let token = first.response.nextPageToken;
  let page = 1;
  let deepToken: string | undefined;
  while (token !== "") {
    deepToken = token;
    page++;
    if (page === DEEP + 1) break;
    token = (await admin.listMedia(request(filter, order, token))).nextPageToken;
  }
  const deep = deepToken === undefined ? undefined : await timePage(admin, filter, order, deepToken);
  return { rows: first.response.media.length, cold: first.cold, p1: first.median, deep: deep?.median, deepPage: page };
}
