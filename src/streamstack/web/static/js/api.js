// The console's only way to the platform: the public REST API with the user's API key as a Bearer token.

const KEY_STORAGE = "streamstack.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function saveApiKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetApiKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** Calls the API; JSON in, JSON out, RFC 9457 problems thrown as ApiError. */
export async function api(path, { method = "GET", body, key = apiKey(), headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const listAssets = (limit = 50, key = apiKey()) => api(`/v1/assets?limit=${limit}`, { key });
export const getAsset = (id) => api(`/v1/assets/${encodeURIComponent(id)}`);
export const deleteAsset = (id) => api(`/v1/assets/${encodeURIComponent(id)}`, { method: "DELETE" });
export const metricsSummary = () => api("/v1/metrics/summary");

/** A direct upload; the file name becomes the asset's title (meta.title) so the list can show it. */
export function createUpload(playbackPolicy, fileName) {
  const settings = { playback_policy: [playbackPolicy], meta: { title: fileName.slice(0, 512) } };
  return api("/v1/uploads", {
    method: "POST",
    body: { new_asset_settings: settings },
    headers: { "Idempotency-Key": crypto.randomUUID() },
  });
}

/** A signed, ready-to-play URL for a signed playback id (POST /v1/playback-ids/{id}/tokens). */
export function playbackToken(playbackId) {
  return api(`/v1/playback-ids/${encodeURIComponent(playbackId)}/tokens`, { method: "POST", body: {} });
}

const liveStream = (id) => `/v1/live-streams/${encodeURIComponent(id)}`;
export const listLiveStreams = (limit = 50) => api(`/v1/live-streams?limit=${limit}`);
export const getLiveStream = (id) => api(liveStream(id));
export const resetStreamKey = (id) => api(`${liveStream(id)}/reset-stream-key`, { method: "POST" });
export const setLiveStreamEnabled = (id, enabled) => api(`${liveStream(id)}/${enabled ? "enable" : "disable"}`,
  { method: "PUT" });
export const completeLiveStream = (id) => api(`${liveStream(id)}/complete`, { method: "PUT" });
export const deleteLiveStream = (id) => api(liveStream(id), { method: "DELETE" });

/** A live stream whose sessions are recorded as assets with the same playback policy. */
export function createLiveStream({ playbackPolicy, latencyMode, reconnectWindow, record }) {
  const body = { playback_policy: [playbackPolicy], latency_mode: latencyMode, reconnect_window: reconnectWindow };
  if (record) body.new_asset_settings = { playback_policy: [playbackPolicy] };
  return api("/v1/live-streams", { method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() } });
}

/** A clip: a new VOD asset cut from a recording (live or finished) between two times, in seconds. */
export function createClip(assetId, startTime, endTime, playbackPolicy) {
  const body = { input: `streamstack://assets/${assetId}`, start_time: startTime, end_time: endTime,
    playback_policy: [playbackPolicy] };
  return api("/v1/assets", { method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() } });
}
