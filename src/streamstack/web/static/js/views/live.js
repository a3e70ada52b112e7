// Live streams: the list with each stream's state, and a form to create one (then its page opens).

import { createLiveStream, listLiveStreams } from "../api.js";
import { clear, errorBanner, every, h, pageHeader } from "../dom.js";
import { dateTime } from "../format.js";

/** `live` while a publisher is connected; otherwise the API's status (idle, active between reconnects, disabled). */
export function liveBadge(stream) {
  const state = stream.status === "active" && stream.connected ? "live" : stream.status;
  const label = state === "active" ? "reconnecting" : state;
  return h(`span.badge.badge-live-${state}`, { dataset: { status: state } }, label);
}

function choice(name, value, title, text, checked) {
  return h("label.choice", h("input", { type: "radio", name, value, checked }),
    h("span", h("strong", title), h("span.muted.small", text)));
}

function createForm(onApiError) {
  const reconnect = h("input#live-reconnect", { type: "number", min: 0, max: 1800, value: 60, required: true });
  const record = h("input#live-record", { type: "checkbox", checked: true });
  const error = h("p.form-error", { role: "alert", hidden: true });
  const submit = h("button.button.primary#live-create", { type: "submit" }, "Create live stream");
  const form = h("form.card.live-create-card",
    h("h2", "New live stream"),
    h("fieldset.choices", h("legend", "Latency"),
      choice("latency", "low", "Low latency", "LL-HLS: 2–3 s behind live in hls.js and Safari.", true),
      choice("latency", "standard", "Standard", "Whole 2 s segments: more buffer, 6–10 s behind.", false)),
    h("fieldset.choices", h("legend", "Playback policy"),
      choice("policy", "public", "Public", "Anyone with the playback URL can watch.", true),
      choice("policy", "signed", "Signed", "Viewers need a signed URL or cookies.", false)),
    h("div.form-grid",
      h("label", { htmlFor: "live-reconnect" }, "Reconnect window (seconds)",
        h("span.muted.small", "A publisher that returns within it continues the same recording."), reconnect),
      h("label.check", record, h("span", "Record each session as an asset (playable while live, VOD after)"))),
    error, h("div.form-actions", submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      const data = new FormData(form);
      const stream = await createLiveStream({ playbackPolicy: data.get("policy"), latencyMode: data.get("latency"),
        reconnectWindow: Number(reconnect.value), record: record.checked });
      location.hash = `#/live/${encodeURIComponent(stream.id)}`;
    } catch (failure) {
      if (onApiError(failure)) return;
      error.textContent = `Could not create the live stream: ${failure.message}`;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function table(streams) {
  if (!streams.length) {
    return h("div.card.empty-state", h("h2", "No live streams yet"),
      h("p.muted", "Create one, then point OBS (or ffmpeg) at its RTMP URL and stream key."));
  }
  const row = (stream) => h("tr.clickable", { dataset: { liveStreamId: stream.id },
    onclick: () => { location.hash = `#/live/${encodeURIComponent(stream.id)}`; } },
  h("td", h("a.asset-link.mono", { href: `#/live/${encodeURIComponent(stream.id)}` }, stream.id)),
  h("td", liveBadge(stream)),
  h("td", stream.latency_mode),
  h("td", stream.playback_ids.map((p) => h(`span.pill.pill-${p.policy}`, p.policy))),
  h("td.num", String(stream.recent_asset_ids.length + (stream.active_asset_id ? 1 : 0))),
  h("td.muted", dateTime(stream.created_at)));
  return h("div.card.table-card", h("table.table#live-table",
    h("thead", h("tr", ["Live stream", "Status", "Latency", "Playback", "Recordings", "Created"]
      .map((title) => h("th", title)))),
    h("tbody", streams.map(row))));
}

export function render(root, _params, { onApiError }) {
  const body = h("div.live-body", h("div.card.loading", "Loading live streams…"));
  root.append(pageHeader("Live", "RTMP in, low-latency HLS out, every session recorded."),
    h("div.live-layout", body, createForm(onApiError)));
  return every(3000, async () => {
    try {
      const { data } = await listLiveStreams();
      clear(body).append(table(data));
    } catch (error) {
      if (!onApiError(error)) clear(body).append(errorBanner(`Could not load live streams: ${error.message}`));
    }
  });
}
