// The console shell: sign-in, hash routing between views, and sign-out when the key stops working.

import { ApiError, apiKey, forgetApiKey, listAssets, saveApiKey } from "./api.js";
import * as assetView from "./views/asset.js";
import * as assetsView from "./views/assets.js";
import * as healthView from "./views/health.js";
import * as liveView from "./views/live.js";
import * as liveStreamView from "./views/live_stream.js";
import * as uploadView from "./views/upload.js";

const ROUTES = [
  { pattern: /^#\/assets\/([^/]+)$/, view: assetView, nav: "assets" },
  { pattern: /^#\/assets$/, view: assetsView, nav: "assets" },
  { pattern: /^#\/upload$/, view: uploadView, nav: "upload" },
  { pattern: /^#\/live\/([^/]+)$/, view: liveStreamView, nav: "live" },
  { pattern: /^#\/live$/, view: liveView, nav: "live" },
  { pattern: /^#\/health$/, view: healthView, nav: "health" },
];

const $ = (id) => document.getElementById(id);
let cleanup = () => {};

function showSignIn(message = "") {
  cleanup();
  $("shell").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("signin-error").hidden = !message;
  $("api-key").focus();
}

function showShell() {
  $("signin").hidden = true;
  $("shell").hidden = false;
  const key = apiKey() || "";
  $("key-label").textContent = `API key …${key.slice(-4)}`;
  route();
}

/** Every view gets a callback for API failures: a rejected key signs the user out, anything else is shown. */
export function onApiError(error) {
  if (error instanceof ApiError && error.status === 401) {
    forgetApiKey();
    showSignIn("Your API key was rejected (unknown or revoked). Sign in again.");
    return true;
  }
  return false;
}

function route() {
  if (!apiKey()) {
    showSignIn();
    return;
  }
  if (!ROUTES.some((r) => r.pattern.test(location.hash))) {
    location.replace("#/assets");
    return;
  }
  const { pattern, view, nav } = ROUTES.find((r) => r.pattern.test(location.hash));
  const params = location.hash.match(pattern).slice(1).map(decodeURIComponent);
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === nav);
    link.toggleAttribute("aria-current", link.dataset.nav === nav);
  }
  cleanup();
  const root = $("view");
  root.replaceChildren();
  root.dataset.view = nav;
  cleanup = view.render(root, params, { onApiError }) || (() => {});
  window.scrollTo(0, 0);
}

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const button = $("signin-submit");
  button.disabled = true;
  try {
    await listAssets(1, key);
    saveApiKey(key);
    $("api-key").value = "";
    showShell();
  } catch (error) {
    const message = error instanceof ApiError && error.status === 401
      ? "That API key is unknown or revoked."
      : `Could not sign in: ${error.message}`;
    showSignIn(message);
  } finally {
    button.disabled = false;
  }
}

$("signin-form").addEventListener("submit", signIn);
$("signout").addEventListener("click", () => {
  forgetApiKey();
  showSignIn();
});
window.addEventListener("hashchange", () => { if (apiKey()) route(); });
if (apiKey()) showShell();
else showSignIn();
