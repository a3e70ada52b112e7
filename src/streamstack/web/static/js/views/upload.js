// Upload a file over tus with a progress bar; the new asset then appears in the list while it encodes.

import { createUpload } from "../api.js";
import { h, pageHeader } from "../dom.js";
import { bytes } from "../format.js";
import { TusUpload } from "../tus.js";

function policyChoice() {
  const option = (value, title, text, checked) => h("label.choice",
    h("input", { type: "radio", name: "policy", value, checked }),
    h("span", h("strong", title), h("span.muted.small", text)));
  return h("fieldset.choices", h("legend", "Playback policy"),
    option("public", "Public", "Anyone with the playback URL can watch.", true),
    option("signed", "Signed", "Viewers need a signed URL or cookies (CloudFront format).", false));
}

const RESUME_PREFIX = "streamstack.upload:";

/** Unfinished uploads are remembered per file (as tus-js-client does), so a reload resumes instead of restarting. */
function resumeKey(file) {
  return `${RESUME_PREFIX}${file.name}:${file.size}:${file.lastModified}`;
}

async function resumable(file) {
  const saved = JSON.parse(localStorage.getItem(resumeKey(file)) || "null");
  if (!saved) return null;
  const response = await fetch(saved.url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } }).catch(() => null);
  if (response?.ok && Number(response.headers.get("Upload-Offset")) < file.size) return saved;
  localStorage.removeItem(resumeKey(file));
  return null;
}

async function uploadTarget(file, policy) {
  const saved = await resumable(file);
  if (saved) return { ...saved, resumed: true };
  const created = await createUpload(policy, file.name);
  const target = { url: created.url, asset_id: created.asset_id };
  localStorage.setItem(resumeKey(file), JSON.stringify(target));
  return target;
}

function progressSection() {
  const fill = h("span.progress-fill");
  const bar = h("div.progress.progress-large#upload-progress", { role: "progressbar", "aria-valuemin": 0,
    "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
  const percent = h("span.upload-percent#upload-percent", "0%");
  const detail = h("span.muted.small#upload-detail", "");
  const status = h("p.upload-status#upload-status", { dataset: { state: "idle" } }, "");
  const section = h("div.upload-progress", { hidden: true },
    h("div.upload-progress-head", percent, detail), bar, status);
  return { section, fill, bar, percent, detail, status };
}

function showProgress(ui, sent, total, startedAt) {
  const pct = total ? Math.floor((sent / total) * 100) : 100;
  ui.fill.style.width = `${pct}%`;
  ui.bar.setAttribute("aria-valuenow", String(pct));
  ui.percent.textContent = `${pct}%`;
  const seconds = (performance.now() - startedAt) / 1000;
  const speed = seconds > 0.2 ? ` · ${bytes(sent / seconds, true)}` : "";
  ui.detail.textContent = `${bytes(sent)} of ${bytes(total)}${speed}`;
}

function setStatus(ui, state, ...content) {
  ui.status.dataset.state = state;
  ui.status.replaceChildren(...content);
}

export function render(root, _params, { onApiError }) {
  const input = h("input.file-input#upload-file", { type: "file", accept: "video/*,audio/*,.mkv,.mov,.mp4" });
  const chosen = h("span.file-chosen", "No file chosen");
  const drop = h("label.dropzone", { htmlFor: "upload-file" },
    h("span.dropzone-title", "Drop a video here or ", h("span.link", "choose a file")),
    h("span.muted.small", "MP4, MOV, MKV, WebM… Uploads resume after network hiccups (tus)."), chosen, input);
  const start = h("button.button.primary#upload-start", { type: "submit", disabled: true }, "Upload");
  const cancel = h("button.button.ghost#upload-cancel", { type: "button", hidden: true }, "Cancel");
  const ui = progressSection();
  const form = h("form.card.upload-card", drop, policyChoice(), h("div.form-actions", start, cancel), ui.section);
  root.append(pageHeader("Upload", "Send a file over tus; encoding to adaptive HLS starts when it completes."), form);

  let upload = null;
  const pick = (file) => {
    if (!file) return;
    form.file = file;
    chosen.textContent = `${file.name} · ${bytes(file.size)}`;
    start.disabled = false;
  };
  input.addEventListener("change", () => pick(input.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    pick(event.dataTransfer.files[0]);
  });
  cancel.addEventListener("click", () => upload?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.file;
    const policy = form.querySelector("input[name=policy]:checked").value;
    start.disabled = true;
    cancel.hidden = false;
    ui.section.hidden = false;
    setStatus(ui, "uploading", "Uploading…");
    const startedAt = performance.now();
    try {
      const target = await uploadTarget(file, policy);
      if (target.resumed) setStatus(ui, "uploading", "Resuming the unfinished upload of this file (its playback policy is the one chosen then)…");
      upload = new TusUpload(file, target.url, { onProgress: (sent, total) => showProgress(ui, sent, total, startedAt) });
      await upload.start();
      localStorage.removeItem(resumeKey(file));
      setStatus(ui, "done", "Upload complete. The asset is being encoded. ",
        h("a#upload-asset-link", { href: `#/assets/${encodeURIComponent(target.asset_id)}` }, "Open the asset →"));
    } catch (error) {
      if (onApiError(error)) return;
      const aborted = error.name === "AbortError";
      setStatus(ui, aborted ? "cancelled" : "error", aborted ? "Upload cancelled." : error.message);
      start.disabled = false;
    } finally {
      cancel.hidden = true;
      upload = null;
    }
  });
  return () => upload?.abort();
}
