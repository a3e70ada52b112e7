// Tiny DOM helpers: build elements without innerHTML so API data is never parsed as markup.

/** h("div.card#main", {onclick}, child, "text") → element. */
export function h(tag, props = {}, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name);
  for (const part of rest) {
    if (part.startsWith(".")) el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (props instanceof Node || typeof props !== "object" || props === null || Array.isArray(props)) {
    children.unshift(props);
    props = {};
  }
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && key !== "list") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function statusBadge(status) {
  return h(`span.badge.badge-${status}`, { dataset: { status } }, status);
}

/** A bar for a 0–100 percentage, as the API reports asset progress. */
export function progressBar(percentDone, { label = true, id } = {}) {
  const pct = Math.max(0, Math.min(100, Math.round(percentDone || 0)));
  const fill = h("span.progress-fill");
  fill.style.width = `${pct}%`;
  const bar = h("span.progress", { role: "progressbar", id, "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": pct }, fill);
  return label ? h("span.progress-wrap", bar, h("span.progress-label", `${pct}%`)) : bar;
}

let toastTimer;
export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 2600);
}

/** Copies text, falling back to a selected textarea where the Clipboard API is unavailable (http origins). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea.offscreen", { value: text, readOnly: true });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast("Copied to the clipboard");
}

export function meta(name) {
  return document.querySelector(`meta[name="streamstack:${name}"]`)?.content ?? "";
}

/** Runs `task` now and then every `ms` (waiting for each run to finish); returns the stop function. */
export function every(ms, task) {
  let timer;
  let stopped = false;
  const tick = async () => {
    try {
      await task();
    } finally {
      if (!stopped) timer = setTimeout(tick, typeof ms === "function" ? ms() : ms);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export function pageHeader(title, subtitle, ...actions) {
  return h("header.page-head",
    h("div", h("h1", title), subtitle ? h("p.muted", subtitle) : null),
    h("div.actions", actions));
}

export function errorBanner(message) {
  return h("div.banner.banner-error", { role: "alert" }, message);
}
