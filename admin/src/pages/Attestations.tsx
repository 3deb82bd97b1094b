import {
  type Attestation,
  AttestationState,
  type DriftItem,
  DriftKind,
  DriftRepair,
} from "@media/proto/media/v1/media_pb";
import { A, useSearchParams } from "@solidjs/router";
import { createMemo, createResource, For, Show } from "solid-js";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { Empty } from "../components/Feedback";
import { StateBadge } from "../components/StateBadge";
import { At } from "../components/When";

/** Attestations read to find each prefix's latest: the newest first, so the first of a prefix is its latest. */
const SCANNED = 500;

const KIND_LABEL: Record<DriftKind, string> = {
  [DriftKind.UNSPECIFIED]: "—",
  [DriftKind.ENDANGERED]: "Endangered",
  [DriftKind.GONE]: "Gone",
  [DriftKind.NOT_LINKED]: "Not linked",
  [DriftKind.UNATTESTED]: "Unattested",
};

const REPAIR_LABEL: Record<DriftRepair, string> = {
  [DriftRepair.UNSPECIFIED]: "reported",
  [DriftRepair.LINKED]: "linked",
  [DriftRepair.HELD]: "held",
  [DriftRepair.UNLINKED]: "unlinked",
  [DriftRepair.CHANGED_DURING]: "changed during the attestation: left alone",
};

const STATE_LABEL: Record<AttestationState, string> = {
  [AttestationState.UNSPECIFIED]: "—",
  [AttestationState.OPEN]: "open",
  [AttestationState.FINISHED]: "finished",
  [AttestationState.EXPIRED]: "expired",
};

/** The latest attestation of each owner prefix, in the order of their latest. */
function latestPerPrefix(attestations: readonly Attestation[]): Attestation[] {
  const seen = new Set<string>();
  return attestations.filter((a) => {
    if (seen.has(a.ownerPrefix)) return false;
    seen.add(a.ownerPrefix);
    return true;
  });
}

export default function Attestations() {
  const [list, ctl] = createResource(async () => {
    const res = await adminClient.listAttestations({ pageSize: SCANNED });
    return latestPerPrefix(res.attestations);
  });
  // The selected attestation is in the address (?id=), so a report can be linked to.
  const [params] = useSearchParams<{ id?: string }>();
  const selectedId = () => params.id;
  const selected = createMemo(() => list.latest?.find((a) => a.id.toString() === selectedId()));

  return (
    <>
      <h1>Attestation drift</h1>
      <p class="muted">
        Owning services attest the references they hold under an owner prefix; each row is a prefix's latest
        attestation. Endangered references are in use by their owner while their media may be deleted.
      </p>
      <Async resource={list} onRetry={() => void ctl.refetch()} what="attestations">
        {(rows) => (
          <>
            <Show when={rows().length === 0}>
              <Empty>No attestations yet</Empty>
            </Show>
            <Show when={rows().length > 0}>
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">The latest attestation of each owner prefix</caption>
                  <thead>
                    <tr>
                      <th scope="col">Owner prefix</th>
                      <th scope="col">State</th>
                      <th scope="col">By</th>
                      <th scope="col">Started</th>
                      <th scope="col" class="num">
                        Attested
                      </th>
                      <th scope="col" class="num">
                        Endangered
                      </th>
                      <th scope="col" class="num">
                        Gone
                      </th>
                      <th scope="col" class="num">
                        Not linked
                      </th>
                      <th scope="col" class="num">
                        Unattested
                      </th>
                      <th scope="col" class="num">
                        Repaired
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={rows()}>
                      {(a) => {
                        const d = a.drift;
                        const count = (n: bigint | undefined) => (d === undefined ? "—" : String(n ?? 0n));
                        return (
                          <tr data-testid="attestation-row" data-prefix={a.ownerPrefix}>
                            <td class="lead">
                              <A
                                href={`/attestations?id=${a.id}`}
                                aria-current={selectedId() === a.id.toString() ? "true" : undefined}
                              >
                                {a.ownerPrefix}
                              </A>
                            </td>
                            <td data-label="State">{STATE_LABEL[a.state]}</td>
                            <td data-label="By">{a.actor}</td>
                            <td data-label="Started">
                              <At time={a.createTime} />
                            </td>
                            <td class="num" data-label="Attested">
                              {a.attestedCount.toString()}
                            </td>
                            <td class="num" data-label="Endangered" data-testid="endangered-count">
                              <Show when={(d?.endangeredCount ?? 0n) > 0n} fallback={count(d?.endangeredCount)}>
                                <strong class="badge badge-failed" data-testid="endangered">
                                  {count(d?.endangeredCount)}
                                </strong>
                              </Show>
                            </td>
                            <td class="num" data-label="Gone">
                              {count(d?.goneCount)}
                            </td>
                            <td class="num" data-label="Not linked">
                              {count(d?.notLinkedCount)}
                            </td>
                            <td class="num" data-label="Unattested">
                              {count(d?.unattestedCount)}
                            </td>
                            <td class="num" data-label="Repaired">
                              {count(d?.repairedCount)}
                            </td>
                          </tr>
                        );
                      }}
                    </For>
                  </tbody>
                </table>
              </div>
            </Show>
          </>
        )}
      </Async>
      <Show when={selected()}>{(a) => <DriftItems attestation={a()} />}</Show>
    </>
  );
}

function DriftItems(props: { attestation: Attestation }) {
  const items = (): DriftItem[] => props.attestation.drift?.items ?? [];
  return (
    <section class="panel" data-testid="drift-items" aria-labelledby="drift-title">
      <h2 id="drift-title">
        Attestation {props.attestation.id.toString()} of {props.attestation.ownerPrefix}
      </h2>
      <Show when={props.attestation.drift} fallback={<p class="muted">No report: the attestation is not finished.</p>}>
        <Show when={items().length > 0} fallback={<Empty>No drift: the references match the owner's truth</Empty>}>
          <Show when={props.attestation.drift?.itemsTruncated}>
            <p class="muted">The first {items().length} items; the counts above are complete.</p>
          </Show>
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Drift items, endangered first</caption>
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Media</th>
                  <th scope="col">State</th>
                  <th scope="col">Repair</th>
                </tr>
              </thead>
              <tbody>
                <For each={items()}>
                  {(item) => (
                    <tr data-testid="drift-item" data-kind={KIND_LABEL[item.kind]}>
                      <td class="lead">{KIND_LABEL[item.kind]}</td>
                      <td class="wrap" data-label="Owner">
                        {item.owner}
                      </td>
                      <td data-label="Media">
                        <Show when={item.kind !== DriftKind.GONE} fallback={item.mediaId.toString()}>
                          <A href={`/media/${item.mediaId}`}>{item.mediaId.toString()}</A>
                        </Show>
                      </td>
                      <td data-label="State">
                        <Show when={item.kind !== DriftKind.GONE} fallback="gone">
                          <StateBadge state={item.state} />
                        </Show>
                      </td>
                      <td data-label="Repair">{REPAIR_LABEL[item.repair]}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </Show>
    </section>
  );
}
