// One live stream: ingest settings to copy (the key hidden until revealed), the live player with its latency,
// the session's recordings and clips cut from them.

import {
  completeLiveStream, createClip, deleteLiveStream, getAsset, getLiveStream, resetStreamKey, setLiveStreamEnabled,
} from "../api.js";
import { copyText, errorBanner, every, h, pageHeader, statusBadge, toast } from "../dom.js";
import { dateTime, duration } from "../format.js";
import { createPlayer } from "../player.js";
import { assetName } from "./assets.js";
import { playbackSource } from "./asset.js";
import { liveBadge } from "./live.js";

const HIDDEN_KEY = "•••••••••••••••• (hidden)";

function copyRow(label, field, ...buttons) {
  field.addEventListener("focus", () => field.select());
  return h("div.copy-field", h("label", label), h("div.copy-row", field, ...buttons));
}

/** RTMP server and stream key as OBS asks for them; the key (and the SRT URL, which carries it) stays masked. */
function ingestCard(state, onApiError) {
  const rtmp = h("input.code#rtmp-url", { readOnly: true });
  const key = h("input.code#stream-key", { readOnly: true, value: HIDDEN_KEY });
  const srt = h("input.code#srt-url", { readOnly: true, value: HIDDEN_KEY });
  const reveal = h("button.button.small#reveal-key", { type: "button" }, "Reveal");
  const regenerate = h("button.button.small.danger.ghost#regenerate-key", { type: "button" }, "Regenerate");
  const srtRow = copyRow("SRT URL (complete, use as is)", srt,
    h("button.button.small", { type: "button", onclick: () => copyText(state.stream.srt_url) }, "Copy"));
  const keyRow = copyRow("Stream key (secret: anyone with it can broadcast here)", key, reveal,
    h("button.button.small#copy-key", { type: "button", onclick: () => copyText(state.stream.stream_key) }, "Copy"),
    regenerate);
  const readOnly = h("p.muted.small#key-read-only", { hidden: true },
    "The stream key is shown to write-scoped API keys only.");
  const refused = h("p.small.text-bad#last-refusal", { hidden: true });
  const card = h("section.card#ingest", h("h2", "Ingest"),
    copyRow("RTMP server URL", rtmp,
      h("button.button.small#copy-rtmp", { type: "button", onclick: () => copyText(state.stream.rtmp_url) }, "Copy")),
    keyRow, srtRow, readOnly, refused,
    h("p.muted.small", "In OBS: Settings → Stream → Service “Custom…”, Server = the RTMP URL, Stream Key = the key. "
      + "Or: ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv “RTMP URL/stream key”."));

  const show = () => {
    const { stream } = state;
    rtmp.value = stream.rtmp_url || "RTMP ingest is off on this server";
    key.value = state.revealed ? stream.stream_key : HIDDEN_KEY;
    srt.value = state.revealed ? stream.srt_url : HIDDEN_KEY;
    key.classList.toggle("masked", !state.revealed);
    reveal.textContent = state.revealed ? "Hide" : "Reveal";
    keyRow.hidden = !stream.stream_key;
    srtRow.hidden = !stream.srt_url;
    readOnly.hidden = Boolean(stream.stream_key);
    const refusal = stream.last_refusal;
    refused.hidden = !refusal;
    refused.textContent = refusal ? `Last publisher refused (${dateTime(refusal.at)}): ${refusal.message}` : "";
  };
  reveal.addEventListener("click", () => {
    state.revealed = !state.revealed;
    show();
  });
  regenerate.addEventListener("click", async () => {
    if (!confirm("Regenerate the stream key? Publishers using the old key are refused from their next connection.")) {
      return;
    }
    try {
      state.stream = await resetStreamKey(state.stream.id);
      show();
      toast("New stream key: update your encoder");
    } catch (error) {
      if (!onApiError(error)) toast(`Could not regenerate the key: ${error.message}`, "error");
    }
  });
  return { card, show };
}

/** The live player; recreated when the publisher comes or goes, or when the latency mode is switched. */
function playerCard(state, onApiError) {
  const waiting = (text) => h("div.player-stage", h("div.player-message#player-waiting", text));
  const box = h("div.player#player", waiting("Waiting for a publisher…"));
  const lowLatency = h("input#low-latency", { type: "checkbox", checked: state.stream.latency_mode === "low" });
  const card = h("section.card.player-card.live-player-card",
    h("div.player-head", h("h2", "Live preview"),
      h("label.check.small", lowLatency, h("span", "Low-latency mode (hls.js lowLatencyMode)"))), box);
  let player = null;
  let playing = false;

  const stop = () => {
    player?.destroy();
    player = null;
    box.replaceChildren(waiting(state.stream.status === "disabled" ? "This live stream is disabled."
      : "Waiting for a publisher…"));
  };
  const start = async () => {
    const playback = state.stream.playback_ids[0];
    if (!playback) return;
    try {
      const source = await playbackSource(playback);
      player?.destroy();
      player = await createPlayer(box, { src: source.url, autoplay: true, muted: true,
        lowLatency: lowLatency.checked });
    } catch (error) {
      if (!onApiError(error)) box.replaceChildren(errorBanner(`Could not start the player: ${error.message}`));
    }
  };
  const update = () => {
    const live = state.stream.status === "active" && state.stream.connected;
    if (live === playing) return;
    playing = live;
    if (live) start();
    else stop();
  };
  lowLatency.addEventListener("change", () => { if (playing) start(); });
  return { card, update, destroy: () => player?.destroy() };
}

function recordingRow(asset, live) {
  const href = `#/assets/${encodeURIComponent(asset.id)}`;
  return h("tr", { dataset: { assetId: asset.id } },
    h("td", h("a.asset-link", { href }, assetName(asset)), live ? h("span.badge.badge-live-live.small", "live") : null),
    h("td", statusBadge(asset.status)),
    h("td.num", duration(asset.duration)),
    h("td.muted", dateTime(asset.created_at)));
}

/** The session recordings (newest first; the one being recorded now marked live), each linking to its asset. */
function recordingsCard() {
  const body = h("tbody");
  const empty = h("p.muted#no-recordings", "No recordings yet: each session is recorded when it starts.");
  const table = h("table.table.compact#recordings", { hidden: true },
    h("thead", h("tr", ["Recording", "Status", "Duration", "Started"].map((title) => h("th", title)))), body);
  const card = h("section.card", h("h2", "Recordings"), empty, table);
  const show = (assets, activeId) => {
    body.replaceChildren(...assets.map((asset) => recordingRow(asset, asset.id === activeId)));
    table.hidden = !assets.length;
    empty.hidden = Boolean(assets.length);
  };
  return { card, show };
}

/** POST /v1/assets with a streamstack://assets/{id} input and a time range: a VOD clip, cut without re-encoding. */
function clipCard(state, onApiError) {
  const source = h("select#clip-source", { required: true });
  const start = h("input#clip-start", { type: "number", min: 0, step: "0.1", value: 0, required: true });
  const end = h("input#clip-end", { type: "number", min: 0, step: "0.1", value: 10, required: true });
  const error = h("p.form-error#clip-error", { role: "alert", hidden: true });
  const result = h("p.small#clip-result", { hidden: true });
  const submit = h("button.button.primary#clip-create", { type: "submit" }, "Create clip");
  const form = h("form.card#clip-form", h("h2", "Create a clip"),
    h("p.muted.small", "A new VOD asset from a time range of a recording, live or finished (seconds from its start)."),
    h("div.form-grid",
      h("label", { htmlFor: "clip-source" }, "Recording", source),
      h("label", { htmlFor: "clip-start" }, "Start (s)", start),
      h("label", { htmlFor: "clip-end" }, "End (s)", end)),
    error, result, h("div.form-actions", submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    result.hidden = true;
    if (Number(end.value) <= Number(start.value)) {
      error.textContent = "The end must be after the start.";
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const policy = state.stream.playback_ids[0]?.policy || "public";
      const clip = await createClip(source.value, Number(start.value), Number(end.value), policy);
      result.replaceChildren("Clip created: ", h("a#clip-link", { href: `#/assets/${encodeURIComponent(clip.id)}` },
        clip.id), ` (${clip.status})`);
      result.hidden = false;
      toast("Clip created");
    } catch (failure) {
      if (onApiError(failure)) return;
      error.textContent = `Could not create the clip: ${failure.message}`;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  const show = (assets) => {
    const chosen = source.value;
    source.replaceChildren(...assets.map((asset) => h("option", { value: asset.id },
      `${assetName(asset)} · ${asset.status} · ${duration(asset.duration)}`)));
    if (assets.some((asset) => asset.id === chosen)) source.value = chosen;
    form.hidden = !assets.length;
  };
  return { card: form, show };
}

function actions(state, onApiError, refresh) {
  const act = (label, id, task, kind = "") => h(`button.button.small${kind}#${id}`, { type: "button",
    onclick: async () => {
      try {
        await task();
        await refresh();
      } catch (error) {
        if (!onApiError(error)) toast(`${label} failed: ${error.message}`, "error");
      }
    } }, label);
  const disable = act("Disable", "live-disable", () => setLiveStreamEnabled(state.stream.id, false), ".ghost");
  const enable = act("Enable", "live-enable", () => setLiveStreamEnabled(state.stream.id, true), ".ghost");
  const complete = act("End session", "live-complete", () => completeLiveStream(state.stream.id), ".ghost");
  const remove = act("Delete", "live-delete", async () => {
    if (!confirm("Delete this live stream? Its recordings stay as assets.")) return;
    await deleteLiveStream(state.stream.id);
    location.hash = "#/live";
  }, ".danger.ghost");
  const show = () => {
    disable.hidden = state.stream.status === "disabled";
    enable.hidden = state.stream.status !== "disabled";
    complete.hidden = !state.stream.active_asset_id;
  };
  return { buttons: [complete, disable, enable, remove], show };
}

async function recordings(stream) {
  const ids = [stream.active_asset_id, ...stream.recent_asset_ids].filter(Boolean);
  const unique = [...new Set(ids)].slice(0, 10);
  const found = await Promise.all(unique.map((id) => getAsset(id).catch(() => null)));
  return found.filter(Boolean);
}

export function render(root, [streamId], { onApiError }) {
  const state = { stream: null, revealed: false };
  let parts = null;
  let stop = () => {};

  const build = () => {
    const badge = h("span#live-status");
    const ingest = ingestCard(state, onApiError);
    const player = playerCard(state, onApiError);
    const recorded = recordingsCard();
    const clips = clipCard(state, onApiError);
    const buttons = actions(state, onApiError, () => refresh());
    root.replaceChildren(
      h("nav.breadcrumb", h("a", { href: "#/live" }, "Live"), h("span", "/"), h("span.mono", state.stream.id)),
      pageHeader("Live stream", h("span", h("span.mono", state.stream.id), ` · ${state.stream.latency_mode} latency`
        + ` · reconnect window ${state.stream.reconnect_window} s`), badge, ...buttons.buttons),
      h("div.asset-layout", h("div.asset-main", player.card, recorded.card),
        h("div.asset-side", ingest.card, clips.card)));
    parts = { badge, ingest, player, recorded, clips, buttons };
  };

  const refresh = async () => {
    try {
      state.stream = await getLiveStream(streamId);
    } catch (error) {
      if (!onApiError(error)) root.replaceChildren(errorBanner(`Could not load the live stream: ${error.message}`));
      stop();
      return;
    }
    if (!parts) build();
    parts.badge.replaceChildren(liveBadge(state.stream));
    parts.ingest.show();
    parts.buttons.show();
    parts.player.update();
    const assets = await recordings(state.stream);
    parts.recorded.show(assets, state.stream.active_asset_id);
    parts.clips.show(assets);
  };

  stop = every(2000, refresh);
  return () => {
    stop();
    parts?.player.destroy();
  };
}
