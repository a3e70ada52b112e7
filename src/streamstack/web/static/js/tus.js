// A small tus 1.0 client on fetch: declare the length at the upload URL, PATCH chunks, resume with HEAD.

const TUS_VERSION = "1.0.0";
const DEFAULT_CHUNK = 8 * 1024 * 1024;
const RETRY_DELAYS_MS = [500, 1500, 4000, 8000];

export class TusError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Reads an RFC 9457 problem's detail, so the user sees why the server refused. */
async function failure(response, what) {
  const problem = await response.json().catch(() => ({}));
  return new TusError(`${what} failed (${response.status}): ${problem.detail || response.statusText}`,
    response.status);
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
const retriable = (error) => !(error instanceof TusError) || error.status >= 500 || error.status === 409;

export class TusUpload {
  /**
   * @param {File|Blob} file
   * @param {string} url  the tus URL from POST /v1/uploads
   * @param {{chunkSize?: number, onProgress?: (sent: number, total: number) => void}} options
   */
  constructor(file, url, { chunkSize = DEFAULT_CHUNK, onProgress = () => {} } = {}) {
    this.file = file;
    this.url = url;
    this.chunkSize = chunkSize;
    this.onProgress = onProgress;
    this.offset = 0;
    this.controller = new AbortController();
  }

  /** Uploads the whole file, retrying transient failures from the server's own offset. */
  async start() {
    if (this.controller.signal.aborted) this.controller = new AbortController();
    await this.withRetries(() => this.declare());
    while (this.offset < this.file.size) {
      await this.withRetries(() => this.patchNextChunk(), () => this.resume());
    }
    this.onProgress(this.file.size, this.file.size);
  }

  abort() {
    this.controller.abort();
  }

  async withRetries(step, recover = async () => {}) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        if (error.name === "AbortError" || !retriable(error) || attempt >= RETRY_DELAYS_MS.length) throw error;
        await sleep(RETRY_DELAYS_MS[attempt]);
        await recover().catch(() => {});
      }
    }
  }

  /** POST at the upload URL fixes Upload-Length (the URL came from POST /v1/uploads without one). */
  async declare() {
    const response = await fetch(this.url, {
      method: "POST",
      headers: { "Tus-Resumable": TUS_VERSION, "Upload-Length": String(this.file.size) },
      signal: this.controller.signal,
    });
    if (!response.ok) throw await failure(response, "Creating the upload");
    this.offset = Number(response.headers.get("Upload-Offset") || 0);
    this.onProgress(this.offset, this.file.size);
  }

  /** HEAD tells how many bytes the server really has after an interrupted PATCH. */
  async resume() {
    const response = await fetch(this.url, {
      method: "HEAD", headers: { "Tus-Resumable": TUS_VERSION }, signal: this.controller.signal,
    });
    if (!response.ok) throw new TusError(`Resuming the upload failed (${response.status})`, response.status);
    this.offset = Number(response.headers.get("Upload-Offset"));
    this.onProgress(this.offset, this.file.size);
  }

  /** PATCH one chunk with XMLHttpRequest, whose upload events give a smooth byte-level progress bar. */
  patchNextChunk() {
    const start = this.offset;
    const end = Math.min(start + this.chunkSize, this.file.size);
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const onAbort = () => xhr.abort();
      this.controller.signal.addEventListener("abort", onAbort, { once: true });
      xhr.open("PATCH", this.url);
      xhr.setRequestHeader("Tus-Resumable", TUS_VERSION);
      xhr.setRequestHeader("Upload-Offset", String(start));
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      xhr.upload.onprogress = (event) => this.onProgress(start + event.loaded, this.file.size);
      xhr.onerror = () => reject(new Error("network error while sending bytes"));
      xhr.onabort = () => reject(new DOMException("upload aborted", "AbortError"));
      xhr.onload = () => {
        this.controller.signal.removeEventListener("abort", onAbort);
        if (xhr.status >= 200 && xhr.status < 300) {
          this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
          this.onProgress(this.offset, this.file.size);
          resolve();
          return;
        }
        let detail = xhr.statusText;
        try { detail = JSON.parse(xhr.responseText).detail || detail; } catch { /* not a problem document */ }
        reject(new TusError(`Sending bytes failed (${xhr.status}): ${detail}`, xhr.status));
      };
      xhr.send(this.file.slice(start, end));
    });
  }
}
