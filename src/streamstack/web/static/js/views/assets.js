// The asset list: status and encoding progress, refreshed while anything is still being prepared.

import { listAssets } from "../api.js";
import { clear, errorBanner, every, h, pageHeader, progressBar, statusBadge } from "../dom.js";
import { dateTime, duration, resolution } from "../format.js";

const BUSY = new Set(["waiting", "preparing"]);

/** The asset's title (meta.title, an upload's file name by default); the id only when it has none. */
export function assetName(asset) {
  return asset.meta?.title || asset.id;
}

function row(asset) {
  const open = () => { location.hash = `#/assets/${encodeURIComponent(asset.id)}`; };
  const progress = asset.status === "ready" ? 100 : asset.progress;
  return h("tr.clickable", { dataset: { assetId: asset.id, status: asset.status }, onclick: open },
    h("td", h("a.asset-link", { href: `#/assets/${encodeURIComponent(asset.id)}` }, assetName(asset)),
      asset.meta?.title ? h("div.mono.muted.small", asset.id) : null),
    h("td", statusBadge(asset.status)),
    h("td.progress-cell", asset.status === "errored" ? h("span.muted", "–") : progressBar(progress)),
    h("td.num", duration(asset.duration)),
    h("td.num", resolution(asset)),
    h("td", asset.playback_ids.map((p) => h(`span.pill.pill-${p.policy}`, p.policy))),
    h("td.muted", dateTime(asset.created_at)));
}

function table(assets) {
  if (!assets.length) {
    return h("div.card.empty-state",
      h("h2", "No assets yet"),
      h("p.muted", "Upload a video and it shows up here while it is encoded."),
      h("a.button.primary", { href: "#/upload" }, "Upload a video"));
  }
  return h("div.card.table-card", h("table.table#assets-table",
    h("thead", h("tr", ["Asset", "Status", "Progress", "Duration", "Resolution", "Playback", "Created"]
      .map((title) => h("th", title)))),
    h("tbody", assets.map(row))));
}

export function render(root, _params, { onApiError }) {
  const body = h("div.assets-body", h("div.card.loading", "Loading assets…"));
  const updated = h("span.muted.small.live-dot", "Live");
  root.append(pageHeader("Assets", "Videos uploaded or imported, newest first.", updated,
    h("a.button.primary", { href: "#/upload" }, "Upload video")), body);
  let busy = true;
  return every(() => (busy ? 2000 : 8000), async () => {
    try {
      const { data } = await listAssets();
      busy = data.some((a) => BUSY.has(a.status));
      clear(body).append(table(data));
      updated.title = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!onApiError(error)) clear(body).append(errorBanner(`Could not load assets: ${error.message}`));
    }
  });
}
