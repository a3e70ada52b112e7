// The hls.js player shared by the console and the embed page: quality and captions menus, a rendition indicator.

import { h, meta } from "./dom.js";
import { bitrate } from "./format.js";

const HLS_PATH = "/static/vendor/hls.min.js";
export const HLS_MISSING = "The video player library (hls.js) is not installed on this server. "
  + "Run scripts/fetch-hls-js (part of `make install`) and reload the page.";

let hlsLoading = null;

/**
 * A live viewer that fell behind (a stall, a busy CPU) catches up by playing at up to 1.5x. No liveSync* counts:
 * given any, hls.js aims at them instead of the playlist's PART-HOLD-BACK / HOLD-BACK.
 */
const LIVE_SYNC = { maxLiveSyncPlaybackRate: 1.5 };

/** Loads the vendored hls.js once; rejects with a message the page can show as is. */
export function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsLoading ??= new Promise((resolve, reject) => {
    if (meta("hls") === "false") {
      reject(new Error(HLS_MISSING));
      return;
    }
    const script = document.createElement("script");
    script.src = HLS_PATH;
    script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error(HLS_MISSING)));
    script.onerror = () => reject(new Error(HLS_MISSING));
    document.head.append(script);
  });
  return hlsLoading;
}

export function levelName(level) {
  return level.height ? `${level.height}p` : bitrate(level.bitrate);
}

/** The edge URL of a playback id's master playlist, carrying a signed query when there is one. */
export function playbackUrl(edgeBase, playbackId, signedQuery = "") {
  const query = signedQuery.replace(/^\?/, "");
  return `${edgeBase}/${playbackId}.m3u8${query ? `?${query}` : ""}`;
}

function buildChrome(container) {
  const video = h("video.player-video", { controls: true, playsInline: true, preload: "metadata" });
  const badge = h("span.level-badge", { hidden: true, title: "Rendition being played" });
  const message = h("div.player-message", { role: "alert", hidden: true });
  const menu = h("select.quality-menu", { "aria-label": "Quality", disabled: true },
    h("option", { value: "-1" }, "Auto"));
  const captions = h("select.captions-menu", { "aria-label": "Captions" }, h("option", { value: "-1" }, "Off"));
  const captionsLabel = h("label.quality.captions", { hidden: true }, h("span", "Captions"), captions);
  const indicator = h("span.level-indicator", "Loading…");
  const switches = h("span.switch-count", "0 rendition switches");
  const latency = h("span.latency-readout", { hidden: true, title: "How far behind the live edge (hls.js latency)" });
  const bar = h("div.player-bar",
    h("label.quality", h("span", "Quality"), menu), captionsLabel, indicator, h("span.spacer"), latency, switches);
  container.replaceChildren(h("div.player-stage", video, badge, message), bar);
  return { video, badge, message, menu, captions, captionsLabel, indicator, switches, latency, bar };
}

/**
 * Plays `src` with hls.js (or natively on Safari) inside `container`. `lowLatency` is hls.js' `lowLatencyMode`
 * (LL-HLS parts and PART-HOLD-BACK on a live stream; off, it plays whole segments behind HOLD-BACK).
 * The returned object is also `window.streamstackPlayer`, which the browser tests observe.
 */
export async function createPlayer(container, { src, autoplay = false, muted = false, poster,
  lowLatency = true } = {}) {
  const ui = buildChrome(container);
  const player = { video: ui.video, hls: null, events: [], switches: 0, level: null, lowLatency,
    destroy: () => {} };
  window.streamstackPlayer = player;
  ui.video.muted = muted;
  if (poster) ui.video.poster = poster;
  ui.video.addEventListener("ended", () => player.events.push({ type: "ended", at: Date.now() }));
  ui.video.addEventListener("error", () => {
    player.events.push({ type: "error", fatal: true, details: ui.video.error?.message || "media error" });
    showMessage(ui, "The video could not be played.");
  });

  let Hls;
  try {
    Hls = await loadHls();
  } catch (error) {
    showMessage(ui, error.message);
    ui.indicator.textContent = "Player unavailable";
    player.events.push({ type: "error", fatal: true, details: "hls.js missing" });
    return player;
  }
  if (!Hls.isSupported()) {
    return playNatively(player, ui, src, autoplay);
  }
  const hls = new Hls({ enableWorker: true, capLevelToPlayerSize: false, lowLatencyMode: lowLatency, ...LIVE_SYNC });
  player.hls = hls;
  const stopWatching = watchLive(hls, ui);
  player.destroy = () => {
    stopWatching();
    hls.destroy();
  };
  wireHls(Hls, hls, player, ui, autoplay);
  hls.loadSource(src);
  hls.attachMedia(ui.video);
  return player;
}

function wireHls(Hls, hls, player, ui, autoplay) {
  hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
    fillMenu(ui.menu, data.levels);
    ui.indicator.textContent = `${data.levels.length} renditions · choosing…`;
    player.events.push({ type: "manifest", levels: data.levels.length });
    if (autoplay) ui.video.play().catch(() => {});
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
    if (player.level !== null && player.level !== data.level) player.switches += 1;
    player.level = data.level;
    player.events.push({ type: "LEVEL_SWITCHED", level: data.level, at: Date.now() });
    showLevel(hls, ui, data.level, player.switches);
  });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    player.events.push({ type: "error", fatal: data.fatal, details: data.details, hole: data.hole });
    if (data.fatal) recover(Hls, hls, ui, data);
  });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_event, data) => {
    fillCaptions(ui, data.subtitleTracks);
    player.events.push({ type: "subtitles", tracks: data.subtitleTracks.map((t) => t.name) });
  });
  ui.captions.addEventListener("change", () => {
    const chosen = Number(ui.captions.value);
    hls.subtitleDisplay = chosen !== -1;
    hls.subtitleTrack = chosen;
  });
  ui.menu.addEventListener("change", () => {
    const chosen = Number(ui.menu.value);
    hls.currentLevel = chosen;
    const target = chosen === -1 ? "automatic quality" : levelName(hls.levels[chosen]);
    ui.indicator.replaceChildren(`Switching to ${target}…`);
  });
}

/**
 * Live streams, every half second: the latency readout (hls.js' distance to the live edge beside the latency it
 * aims for), and a jump to the live sync position when the viewer is further behind than hls.js' 1.5x catch-up
 * covers (target + one target duration): after a slow start or a long stall, unless the viewer seeked back (DVR).
 */
function watchLive(hls, ui) {
  let following = true;
  let jumping = false;
  ui.video.addEventListener("seeking", () => {
    const details = hls.latestLevelDetails;
    if (!jumping && details?.live) following = hls.liveSyncPosition - ui.video.currentTime < 2 * details.targetduration;
    jumping = false;
  });
  const timer = setInterval(() => {
    const details = hls.latestLevelDetails;
    if (!details?.live || !Number.isFinite(hls.latency) || hls.latency <= 0) return;
    ui.latency.hidden = false;
    ui.latency.textContent = `Latency ${hls.latency.toFixed(1)} s · target ${hls.targetLatency?.toFixed(1) ?? "–"} s`;
    ui.latency.dataset.latency = hls.latency.toFixed(3);
    const behind = hls.latency > hls.targetLatency + details.targetduration;
    if (following && behind && !ui.video.paused && hls.liveSyncPosition > ui.video.currentTime) {
      jumping = true;
      ui.video.currentTime = hls.liveSyncPosition;
    }
  }, 500);
  return () => clearInterval(timer);
}

/** One retry for network and media errors, as hls.js recommends; refusals and the rest are shown at once. */
function recover(Hls, hls, ui, data) {
  const status = data.response?.code;
  const refused = status >= 400 && status < 500;
  const beforeLevels = !hls.levels?.length;
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR && !refused && !beforeLevels && !ui.recoveredNetwork) {
    ui.recoveredNetwork = true;
    hls.startLoad();
  } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !ui.recoveredMedia) {
    ui.recoveredMedia = true;
    hls.recoverMediaError();
  } else {
    showMessage(ui, playbackFailure(status, data.details));
    ui.indicator.textContent = "Playback stopped";
    hls.destroy();
  }
}

function playbackFailure(status, details) {
  if (status === 403) return "Playback was refused: the signed URL is invalid or has expired.";
  if (status === 404) return "This video does not exist (or is not ready yet).";
  return `Playback failed (${details}).`;
}

function fillMenu(menu, levels) {
  const options = levels
    .map((level, index) => ({ level, index }))
    .sort((a, b) => (b.level.height || b.level.bitrate) - (a.level.height || a.level.bitrate))
    .map(({ level, index }) => h("option", { value: String(index) },
      `${levelName(level)} · ${bitrate(level.bitrate)}`));
  menu.replaceChildren(h("option", { value: "-1" }, "Auto"), ...options);
  menu.disabled = levels.length < 2;
}

/** The master's SUBTITLES group as a menu: "Off" plus one entry per text track (name and language). */
function fillCaptions(ui, tracks) {
  const options = tracks.map((track, index) => h("option", { value: String(index) },
    track.lang && track.lang !== track.name ? `${track.name} (${track.lang})` : track.name));
  ui.captions.replaceChildren(h("option", { value: "-1" }, "Off"), ...options);
  ui.captionsLabel.hidden = tracks.length === 0;
}

function showLevel(hls, ui, index, switches) {
  const level = hls.levels[index];
  if (!level) return;
  const auto = hls.autoLevelEnabled;
  const name = levelName(level);
  ui.badge.textContent = name;
  ui.badge.hidden = false;
  ui.badge.dataset.level = String(index);
  ui.indicator.replaceChildren("Playing ", h("strong", name), ` · ${bitrate(level.bitrate)}`,
    h("span.muted", ` · ${auto ? "auto" : "manual"}`));
  ui.menu.options[0].textContent = auto ? `Auto (${name})` : "Auto";
  ui.switches.textContent = `${switches} rendition switch${switches === 1 ? "" : "es"}`;
}

function playNatively(player, ui, src, autoplay) {
  if (!ui.video.canPlayType("application/vnd.apple.mpegurl")) {
    showMessage(ui, "This browser cannot play HLS video.");
    return player;
  }
  ui.video.src = src;
  ui.indicator.textContent = "Quality chosen by the browser";
  if (autoplay) ui.video.play().catch(() => {});
  return player;
}

function showMessage(ui, text) {
  ui.message.textContent = text;
  ui.message.hidden = false;
}
