// The Health page: the last hour of the platform's own metrics as live charts (GET /v1/metrics/summary).

import { metricsSummary } from "../api.js";
import { chartCard, drawChart } from "../charts.js";
import { errorBanner, every, h, pageHeader } from "../dom.js";
import { bitrate, bytes, percent } from "../format.js";

const ms = (v) => {
  if (v === null || v === undefined) return "–";
  return `${v > 0 && v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
};
const perSecond = (v) => (v === null || v === undefined ? "–" : `${v < 10 ? v.toFixed(2) : Math.round(v)}/s`);
const count = (v) => (v === null || v === undefined ? "–" : String(Math.round(v)));
const ratio = (v) => percent(v, v !== null && v !== undefined && v < 0.1 ? 1 : 0);
const fixed = (digits, unit) => (v) => (v === null || v === undefined ? "–" : `${v.toFixed(digits)}${unit}`);
const speed = fixed(2, "×");
const seconds = fixed(1, " s");
const fps = fixed(1, " fps");
const LIVE_MIN_SPEED = 0.95; // the StreamstackLiveTranscoderBehind threshold (deploy/prometheus/rules.yml)
const LIVE_STALL_SECONDS = 15; // the StreamstackLiveIngestStalled threshold

/** One line per live stream (the streams seen in the history) of one of its figures. */
const perStream = (figure) => (s) => Object.entries(s.live_streams).map(([id, figures]) => ({
  name: id, values: figures[figure] }));

const RANGES = [{ label: "5 min", seconds: 300 }, { label: "15 min", seconds: 900 }, { label: "1 hour", seconds: 3600 }];
const MIN_SPAN = 60;

const JOB_COLORS = { queued: "#64748b", running: "#0284c7", completed: "#0d9488", failed: "#e11d48" };

/** Each chart: which series of the summary it draws, and how its values read. */
const CHARTS = [
  { id: "api-latency", title: "API latency", subtitle: "p50 and p99 over the last minute", format: ms,
    series: (s) => [{ name: "p50", values: s.api_latency_p50_ms }, { name: "p99", values: s.api_latency_p99_ms }] },
  { id: "api-errors", title: "API error rate", subtitle: "Share of responses by status class", format: ratio,
    emptyMax: 0.04,
    series: (s) => [{ name: "5xx", values: s.api_5xx_ratio, color: "#e11d48" },
      { name: "4xx", values: s.api_4xx_ratio, color: "#d97706" }] },
  { id: "api-throughput", title: "API requests", subtitle: "Requests per second", format: perSecond,
    series: (s) => [{ name: "requests/s", values: s.api_requests_per_second }] },
  { id: "edge-hit-ratio", title: "Edge cache hit ratio", subtitle: "Hits and coalesced requests over all requests",
    format: ratio, yMax: 1,
    series: (s) => [{ name: "hit ratio", values: s.edge_hit_ratio, color: "#0d9488" }] },
  { id: "edge-bytes", title: "Edge bytes served", subtitle: "Throughput to viewers", format: (v) => bytes(v, true),
    integer: true,
    series: (s) => [{ name: "bytes/s", values: s.edge_bytes_per_second, color: "#0284c7" }] },
  { id: "encoding-jobs", title: "Encoding jobs by state", subtitle: "Queued and running now; finished in the last hour",
    format: count, integer: true,
    series: (s) => Object.entries(s.encoding_jobs).map(([state, values]) => ({
      name: state, values, color: JOB_COLORS[state] })) },
  { id: "queue-depth", title: "Queue depth", subtitle: "Messages visible, in flight or delayed", format: count,
    integer: true,
    series: (s) => Object.entries(s.queue_depth).map(([queue, values]) => ({ name: queue, values })) },
  { id: "dlq-depth", title: "Dead-letter queues", subtitle: "Messages that failed every retry", format: count,
    integer: true,
    series: (s) => Object.entries(s.dlq_depth).map(([queue, values]) => ({ name: `${queue} DLQ`, values,
      color: "#e11d48" })) },
  { id: "live-streams", title: "Live streams", subtitle: "Streams with a connected publisher", format: count,
    integer: true, series: (s) => [{ name: "connected", values: s.live_active_streams, color: "#e11d48" }] },
  { id: "live-ingest-bitrate", title: "Live ingest bitrate", subtitle: "What each publisher sends, over 5 s",
    format: bitrate, series: perStream("ingest_bitrate") },
  { id: "live-ingest-fps", title: "Live ingest frame rate", subtitle: "Video frames per second from each publisher",
    format: fps, series: perStream("ingest_frame_rate") },
  { id: "live-transcoder-speed", title: "Live transcoder speed",
    subtitle: `Media seconds per second; below ${LIVE_MIN_SPEED}× falls behind real time`, format: speed,
    series: perStream("transcoder_speed") },
  { id: "live-latency", title: "Live latency estimate",
    subtitle: "Wall clock minus where a player at the live edge plays", format: seconds,
    series: perStream("latency_seconds") },
  { id: "live-publish-lag", title: "Live part publish lag", subtitle: "Encoder output to part in the store",
    format: ms, series: (s) => [{ name: "p50", values: s.live_part_publish_p50_ms },
      { name: "p99", values: s.live_part_publish_p99_ms }] },
  { id: "live-stall", title: "Live ingest stall",
    subtitle: `Seconds without video from a connected publisher; alert above ${LIVE_STALL_SECONDS} s`,
    format: seconds, integer: true, series: perStream("stall_seconds") },
];

function lastValue(values) {
  for (let i = (values?.length || 0) - 1; i >= 0; i -= 1) if (values[i] !== null) return values[i];
  return null;
}

function tiles(summary) {
  const s = summary.series;
  const dlq = Object.values(s.dlq_depth).reduce((sum, v) => sum + (lastValue(v) || 0), 0);
  const errors = lastValue(s.api_5xx_ratio);
  const tile = (label, value, state = "ok") => h(`div.tile.tile-${state}`, h("span.tile-label", label),
    h("span.tile-value", value));
  const now = (values) => values?.[values.length - 1] ?? null; // a stream that left has null here, not its last value
  const current = Object.values(s.live_streams).map((f) => ({ latency: now(f.latency_seconds),
    speed: now(f.transcoder_speed), stall: now(f.stall_seconds) })).filter((f) => f.stall !== null);
  const worst = (key, pick) => {
    const values = current.map((f) => f[key]).filter((v) => v !== null);
    return values.length ? pick(...values) : null;
  };
  const connected = lastValue(s.live_active_streams) || 0;
  const slowest = worst("speed", Math.min);
  const stalled = current.filter((f) => f.stall > LIVE_STALL_SECONDS).length;
  return [
    tile("API p99", ms(lastValue(s.api_latency_p99_ms))),
    tile("API 5xx", ratio(errors), errors > 0.01 ? "bad" : "ok"),
    tile("Edge hit ratio", ratio(lastValue(s.edge_hit_ratio))),
    tile("Jobs running", count(lastValue(s.encoding_jobs.running))),
    tile("DLQ messages", count(dlq), dlq > 0 ? "bad" : "ok"),
    tile("Live streams", count(connected), stalled ? "bad" : "ok"),
    tile("Live latency (worst)", seconds(worst("latency", Math.max))),
    tile("Transcoder (slowest)", speed(slowest), slowest !== null && slowest < LIVE_MIN_SPEED ? "bad" : "ok"),
  ];
}

/** The time axis: the chosen range, shortened to the history there is (the sampler starts with the API). */
function visibleSpan(summary, range) {
  const t = summary.t;
  const available = t.length > 1 ? t[t.length - 1] - t[0] : 0;
  return Math.min(range, summary.history_seconds, Math.max(MIN_SPAN, available));
}

function rangePicker(selected, onPick) {
  const buttons = RANGES.map((r) => h("button", { type: "button", "aria-pressed": String(r.seconds === selected),
    onclick: () => {
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === buttons[RANGES.indexOf(r)]));
      onPick(r.seconds);
    } }, r.label));
  return h("div.segmented", { role: "group", "aria-label": "Time range" }, buttons);
}

export function render(root, _params, { onApiError }) {
  const status = h("span.muted.small.live-dot#health-updated", "Connecting…");
  const tileRow = h("div.tiles");
  const banner = h("div");
  const figures = CHARTS.map((chart) => ({ chart, figure: chartCard(chart) }));
  let range = 3600;
  let latest = null;
  const draw = () => {
    if (!latest) return;
    const now = latest.t.length ? latest.t[latest.t.length - 1] : Date.now() / 1000;
    const span = visibleSpan(latest, range);
    for (const { chart, figure } of figures) {
      drawChart(figure, { t: latest.t, series: chart.series(latest.series), format: chart.format, now, span,
        yMax: chart.yMax, integer: chart.integer, emptyMax: chart.emptyMax });
    }
    tileRow.replaceChildren(...tiles(latest));
  };
  const picker = rangePicker(range, (seconds) => { range = seconds; draw(); });
  root.append(pageHeader("Health", "The platform's own metrics, sampled by the API every few seconds and kept "
    + "for an hour.", status, picker), banner, tileRow, h("div.charts", figures.map((f) => f.figure)));
  const resize = new ResizeObserver(() => draw());
  resize.observe(root);
  let interval = 5000;
  const stop = every(() => interval, async () => {
    try {
      latest = await metricsSummary();
      interval = Math.max(1000, latest.interval_seconds * 1000);
      banner.replaceChildren(latest.metrics_enabled ? "" : errorBanner(
        "Metrics are switched off on this server (STREAMSTACK_METRICS_ENABLED=false); the charts stay empty."));
      draw();
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      root.dataset.samples = String(latest.t.length);
    } catch (error) {
      if (!onApiError(error)) banner.replaceChildren(errorBanner(`Could not load metrics: ${error.message}`));
    }
  });
  return () => {
    stop();
    resize.disconnect();
  };
}
