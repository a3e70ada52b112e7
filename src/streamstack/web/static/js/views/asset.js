// One asset: encoding progress, the hls.js player, renditions, and the playback URL and embed code to copy.

import { deleteAsset, getAsset, playbackToken } from "../api.js";
import { copyText, errorBanner, every, h, meta, pageHeader, progressBar, statusBadge, toast } from "../dom.js";
import { bitrate, codecName, dateTime, duration } from "../format.js";
import { createPlayer, playbackUrl } from "../player.js";
import { assetName } from "./assets.js";

const BUSY = new Set(["waiting", "preparing"]);

/** A ready-to-play source: public ids play as is, signed ids get a fresh signed query from the API. */
export async function playbackSource(playback) {
  const edge = meta("edge");
  if (playback.policy !== "signed") return { url: playbackUrl(edge, playback.id), query: "", expires: null };
  const token = await playbackToken(playback.id);
  const url = token.url || token.playback_url;
  return { url, query: new URL(url).search.slice(1), expires: token.expires_at || token.expires || null };
}

export function embedCode(playbackId, query = "") {
  const src = `${location.origin}/embed/${playbackId}${query ? `?${query}` : ""}`;
  return `<iframe src="${src.replaceAll("&", "&amp;")}" width="640" height="360" style="border:0" `
    + `allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>`;
}

function copyField(label, value, { multiline = false, id } = {}) {
  const field = multiline
    ? h("textarea.code", { readOnly: true, rows: 4, value, id })
    : h("input.code", { readOnly: true, value, id });
  field.addEventListener("focus", () => field.select());
  return h("div.copy-field", h("label", label),
    h("div.copy-row", field, h("button.button.small", { type: "button", onclick: () => copyText(value) }, "Copy")));
}

function detailsCard(asset) {
  const item = (term, value) => [h("dt", term), h("dd", value)];
  return h("section.card",
    h("h2", "Details"),
    h("dl.details",
      item("Asset ID", h("span.mono", asset.id)),
      ...(asset.meta?.creator_id ? item("Creator ID", h("span.mono", asset.meta.creator_id)) : []),
      ...(asset.meta?.external_id ? item("External ID", h("span.mono", asset.meta.external_id)) : []),
      item("Status", statusBadge(asset.status)),
      item("Duration", duration(asset.duration)),
      item("Max resolution", asset.max_width ? `${asset.max_width}×${asset.max_height}` : "–"),
      item("Frame rate", asset.max_frame_rate ? `${asset.max_frame_rate} fps` : "–"),
      item("Aspect ratio", asset.aspect_ratio || "–"),
      item("Ladder", asset.ladder || "platform default"),
      item("Loudness", asset.loudness?.integrated_lufs != null
        ? `${asset.loudness.integrated_lufs.toFixed(1)} LUFS${asset.loudness.target_lufs != null
          ? ` (normalised to ${asset.loudness.target_lufs}, ${asset.loudness.method})` : ""}` : "–"),
      item("Text tracks", asset.tracks?.length
        ? asset.tracks.map((t) => `${t.name} (${t.language_code})`).join(", ") : "–"),
      item("Created", dateTime(asset.created_at)),
      item("Ready", dateTime(asset.ready_at))),
    asset.renditions.length ? renditionsTable(asset.renditions) : null);
}

function renditionsTable(renditions) {
  return h("table.table.compact#renditions",
    h("thead", h("tr", ["Rendition", "Size", "Bitrate", "Codecs"].map((title) => h("th", title)))),
    h("tbody", renditions.map((r) => h("tr",
      h("td", h("strong", r.name)), h("td.num", `${r.width}×${r.height}`), h("td.num", bitrate(r.bitrate)),
      h("td.small", { title: r.codecs }, r.codecs.split(",").map((codec) => h("div", codecName(codec))))))));
}

function playbackCard(asset, sources) {
  return h("section.card.playback-card",
    h("h2", "Playback"),
    asset.playback_ids.map((p) => {
      const source = sources.get(p.id);
      const expiry = source?.expires ? ` · signed URL valid until ${dateTime(source.expires)}` : "";
      return h("div.playback-id", { dataset: { playbackId: p.id, policy: p.policy } },
        h("div.playback-id-head", h(`span.pill.pill-${p.policy}`, p.policy), h("span.mono", p.id),
          h("span.muted.small", expiry)),
        copyField("Playback URL (HLS)", source?.url || p.url, { id: `url-${p.id}` }),
        copyField("Embed code", embedCode(p.id, source?.query), { multiline: true, id: `embed-${p.id}` }),
        h("a.small", { href: `/embed/${p.id}${source?.query ? `?${source.query}` : ""}`, target: "_blank",
          rel: "noopener" }, "Open the embed page ↗"));
    }));
}

function pendingCard(asset) {
  if (asset.status === "errored") {
    return h("section.card", h("h2", "Encoding failed"),
      h("ul.errors", (asset.errors.length ? asset.errors : ["no reason was recorded"]).map((e) => h("li", e))));
  }
  const label = asset.status === "waiting" ? "Waiting for the upload to finish…"
    : asset.retrying ? `Encoding again after an interruption (attempt ${asset.encode_attempts})…`
      : "Encoding to adaptive HLS…";
  return h("section.card.pending", h("h2", label), progressBar(asset.progress),
    h("p.muted.small", "This page refreshes by itself and starts the player when the asset is ready."));
}

async function showReady(root, asset, onApiError) {
  const sources = new Map();
  const playerBox = h("div.player#player");
  const layout = h("div.asset-layout",
    h("div.asset-main", h("section.card.player-card", playerBox)),
    h("div.asset-side", detailsCard(asset)));
  root.append(layout);
  try {
    for (const p of asset.playback_ids) sources.set(p.id, await playbackSource(p));
  } catch (error) {
    if (onApiError(error)) return null;
    root.prepend(errorBanner(`Could not get a signed playback URL: ${error.message}`));
  }
  layout.querySelector(".asset-main").append(playbackCard(asset, sources));
  const first = asset.playback_ids[0];
  const source = first && sources.get(first.id);
  if (!source) {
    playerBox.append(h("div.player-message", "This asset has no playable playback id."));
    return null;
  }
  return createPlayer(playerBox, { src: source.url, muted: true,
    poster: `${meta("edge")}/${first.id}/thumbnail.jpg${source.query ? `?${source.query}` : ""}` });
}

function header(asset) {
  const remove = h("button.button.danger.ghost", { type: "button" }, "Delete");
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete ${assetName(asset)} and all its renditions?`)) return;
    await deleteAsset(asset.id);
    toast("Asset deleted");
    location.hash = "#/assets";
  });
  return h("div",
    h("nav.breadcrumb", h("a", { href: "#/assets" }, "Assets"), h("span", "/"), h("span", assetName(asset))),
    pageHeader(assetName(asset), null, statusBadge(asset.status), remove));
}

export function render(root, [assetId], { onApiError }) {
  let player = null;
  let stop = () => {};
  let lastStatus = null;
  stop = every(2000, async () => {
    let asset;
    try {
      asset = await getAsset(assetId);
    } catch (error) {
      if (!onApiError(error)) root.replaceChildren(errorBanner(`Could not load the asset: ${error.message}`));
      stop();
      return;
    }
    if (asset.status === lastStatus && !BUSY.has(asset.status)) return;
    lastStatus = asset.status;
    root.replaceChildren(header(asset));
    if (BUSY.has(asset.status) || asset.status === "errored") {
      root.append(pendingCard(asset));
      if (asset.status === "errored") stop();
      return;
    }
    stop();
    player = await showReady(root, asset, onApiError);
  });
  return () => {
    stop();
    player?.destroy();
  };
}
