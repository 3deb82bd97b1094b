import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { DeletionHour } from "@media/proto/media/v1/admin_service_pb";
import { createUniqueId, For } from "solid-js";
import { formatBytes, formatCount } from "../format";

const WIDTH = 840;
const HEIGHT = 220;
const LEFT = 44;
const BOTTOM = 24;
const TOP = 8;
const PLOT_H = HEIGHT - BOTTOM - TOP;

const hourLabel = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
const dayLabel = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric" });

const startOf = (h: DeletionHour) => (h.startTime ? timestampDate(h.startTime) : new Date(0));

/** The smallest 1, 2 or 5 × 10^k at or above n, so the axis reads in round numbers. */
function niceCeil(n: number): number {
  const power = 10 ** Math.floor(Math.log10(n));
  return ([1, 2, 5, 10].find((f) => f * power >= n) ?? 10) * power;
}

/** "7 days" for whole days, else "30 hours". */
const span = (hours: number) => (hours % 24 === 0 ? `${hours / 24} days` : `${hours} hours`);

/** Deleted files per hour as stacked bars (failed attempts on top), oldest hour on the left. */
export function HistoryChart(props: { hours: DeletionHour[]; label: string }) {
  const titleId = createUniqueId();
  const descId = createUniqueId();
  const totals = () =>
    props.hours.reduce(
      (t, h) => ({
        deleted: t.deleted + h.deletedCount,
        bytes: t.bytes + h.deletedSizeBytes,
        failed: t.failed + h.failedCount,
      }),
      { deleted: 0n, bytes: 0n, failed: 0n },
    );
  const max = () => niceCeil(Math.max(1, ...props.hours.map((h) => Number(h.deletedCount + h.failedCount))));
  // Whole-number ticks only: half of 1 file is not a count.
  const ticks = () => [0, max() / 2, max()].filter(Number.isInteger);
  const barWidth = () => (WIDTH - LEFT) / Math.max(1, props.hours.length);
  const y = (value: number) => TOP + PLOT_H - (value / max()) * PLOT_H;
  const summary = () =>
    `${formatCount(totals().deleted)} files deleted (${formatBytes(totals().bytes)}), ` +
    `${formatCount(totals().failed)} failed attempts`;
  // Day boundaries in local time get a tick and a label, so the axis reads as calendar days.
  const dayStarts = () =>
    props.hours.flatMap((h, i) => {
      const start = startOf(h);
      return start.getHours() === 0 ? [{ i, label: dayLabel.format(start) }] : [];
    });

  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby={`${titleId} ${descId}`}
        data-testid="deletion-chart"
      >
        <title id={titleId}>{props.label}</title>
        <desc id={descId}>{summary()}</desc>
        <For each={ticks()}>
          {(tick) => (
            <g class="chart-grid">
              <line x1={LEFT} x2={WIDTH} y1={y(tick)} y2={y(tick)} />
              <text x={LEFT - 6} y={y(tick) + 4} text-anchor="end">
                {formatCount(tick)}
              </text>
            </g>
          )}
        </For>
        <For each={props.hours}>
          {(h, i) => {
            const x = () => LEFT + i() * barWidth();
            const deleted = () => Number(h.deletedCount);
            const failed = () => Number(h.failedCount);
            const when = () => hourLabel.format(startOf(h));
            return (
              <g>
                <title>{`${when()}: ${formatCount(deleted())} deleted (${formatBytes(h.deletedSizeBytes)}), ${formatCount(failed())} failed`}</title>
                <rect
                  class="bar-deleted"
                  x={x()}
                  width={Math.max(1, barWidth() - 1)}
                  y={y(deleted())}
                  height={TOP + PLOT_H - y(deleted())}
                />
                <rect
                  class="bar-failed"
                  x={x()}
                  width={Math.max(1, barWidth() - 1)}
                  y={y(deleted() + failed())}
                  height={y(deleted()) - y(deleted() + failed())}
                />
              </g>
            );
          }}
        </For>
        <For each={dayStarts()}>
          {(d) => (
            <g class="chart-axis">
              <line x1={LEFT + d.i * barWidth()} x2={LEFT + d.i * barWidth()} y1={TOP + PLOT_H} y2={TOP + PLOT_H + 5} />
              <text x={LEFT + d.i * barWidth() + 2} y={HEIGHT - 6}>
                {d.label}
              </text>
            </g>
          )}
        </For>
        <line class="chart-baseline" x1={LEFT} x2={WIDTH} y1={TOP + PLOT_H} y2={TOP + PLOT_H} />
      </svg>
      <figcaption data-testid="deletions-total">
        {summary()} in the last {span(props.hours.length)}. <span class="legend legend-deleted">deleted</span>{" "}
        <span class="legend legend-failed">failed</span>
      </figcaption>
    </figure>
  );
}
