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
