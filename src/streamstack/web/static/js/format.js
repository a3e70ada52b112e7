// Small, locale-aware formatting helpers shared by the views.

export function bytes(value, perSecond = false) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let n = Math.abs(value);
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  const digits = n >= 100 || i === 0 ? 0 : 1;
  return `${(Math.sign(value) * n).toFixed(digits)} ${units[i]}${perSecond ? "/s" : ""}`;
}

export function bitrate(bitsPerSecond) {
  if (!bitsPerSecond) return "–";
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)} Mbps`;
  return `${Math.round(bitsPerSecond / 1e3)} kbps`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

export function dateTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function clock(epochSeconds, withSeconds = false) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    ...(withSeconds ? { second: "2-digit" } : {}) };
  return new Date(epochSeconds * 1000).toLocaleTimeString(undefined, options);
}

export function percent(fraction, digits = 0) {
  if (fraction === null || fraction === undefined) return "–";
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function resolution(asset) {
  return asset.max_height ? `${asset.max_height}p` : "–";
}

const AVC_PROFILES = { 42: "Baseline", "4d": "Main", 58: "Extended", 64: "High", "6e": "High 10" };
const AUDIO_CODECS = { "mp4a.40.2": "AAC-LC", "mp4a.40.5": "HE-AAC", "mp4a.40.29": "HE-AACv2", "ac-3": "AC-3",
  "ec-3": "E-AC-3", opus: "Opus" };

/** RFC 6381 codec strings as people read them: "avc1.64001f" → "H.264 High 3.1", "mp4a.40.2" → "AAC-LC". */
export function codecName(codec) {
  const [kind, detail = ""] = codec.trim().split(/\.(.*)/s);
  if (kind === "avc1" || kind === "avc3") {
    const profile = AVC_PROFILES[detail.slice(0, 2).toLowerCase()] || "";
    const level = parseInt(detail.slice(4, 6), 16);
    return ["H.264", profile, Number.isNaN(level) ? "" : (level / 10).toFixed(1)].filter(Boolean).join(" ");
  }
  if (kind === "hvc1" || kind === "hev1") return "HEVC";
  if (kind === "av01") return "AV1";
  return AUDIO_CODECS[codec.trim()] || codec.trim();
}
