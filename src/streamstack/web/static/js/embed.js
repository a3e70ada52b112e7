// The embeddable player page: /embed/{playback_id}, optionally with a signed query passed on to the edge.

import { meta } from "./dom.js";
import { createPlayer, playbackUrl } from "./player.js";

const PLAYER_OPTIONS = new Set(["autoplay", "muted", "latency"]);
const truthy = (value) => value !== null && value !== "0" && value !== "false";

/**
 * `?token=<signed query>` or CloudFront's own parameters (Expires/Policy, Signature, Key-Pair-Id).
 * The parameters are passed on byte for byte: re-encoding them (URLSearchParams turns `~` into `%7E`)
 * would change the signature the edge checks.
 */
export function signedQueryOf(search) {
  const token = new URLSearchParams(search).get("token");
  if (token) return token.replace(/^\?/, "");
  return search.replace(/^\?/, "").split("&")
    .filter((part) => part && !PLAYER_OPTIONS.has(decodeURIComponent(part.split("=")[0])))
    .join("&");
}

const params = new URLSearchParams(location.search);
const edge = meta("edge");
const playbackId = meta("playback-id");
const signed = signedQueryOf(location.search);
createPlayer(document.getElementById("player"), {
  src: playbackUrl(edge, playbackId, signed),
  autoplay: truthy(params.get("autoplay")),
  muted: truthy(params.get("muted")) || truthy(params.get("autoplay")),
  lowLatency: params.get("latency") !== "standard",
  poster: `${edge}/${playbackId}/thumbnail.jpg${signed ? `?${signed}` : ""}`,
});
