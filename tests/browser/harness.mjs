// Shared helpers for the browser tests (node:test + playwright-core + Debian's headless Chromium).
//
// Environment:
//   TWINLENS_BIN   the twinlens CLI (default target/debug/twinlens, relative to the repo root)
//   TWINLENS_DIST  the folder `twinlens serve` serves (default dist, relative to the repo root)
//   TWINLENS_URL   use an already-running server at this base URL instead of spawning one
//   CHROMIUM       the browser executable (default /usr/bin/chromium)
//
// Everything runs on loopback; nothing is downloaded.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUTPUT_DIR = path.join(REPO_ROOT, 'tests', 'browser', 'output');

/** Page size used by every test, so screenshots of different runs compare pixel for pixel. */
export const VIEWPORT = { width: 800, height: 600 };

const fromRoot = (p) => (path.isAbsolute(p) ? p : path.join(REPO_ROOT, p));
export const twinlensBin = () => fromRoot(process.env.TWINLENS_BIN || 'target/debug/twinlens');
export const distDir = () => fromRoot(process.env.TWINLENS_DIST || 'dist');

// ---------------------------------------------------------------------------------------------
// Child processes: whatever happens, no server outlives the test process.

const children = new Set();

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

// On a signal, exit at once (status 128 + signal number): 'exit' handlers then kill our servers
// and Playwright's own 'exit' handler kills the browser. (Playwright's SIGTERM handler alone only
// closes browsers and does not end the process.)
process.on('exit', killAll);
for (const [sig, num] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + num);
  });
}

const tail = (s, n = 4000) => (s.length > n ? '…' + s.slice(-n) : s);

/**
 * Start `twinlens serve` on a free loopback port (or use TWINLENS_URL).
 * Resolves with `{ url, stop }`; `url` is the base URL with a trailing slash.
 * `allowLive`: the live sources the site allows (`--allow-live`); by default any WebSocket on
 * 127.0.0.1, where the tests run their feeds and brokers. `args`: more `serve` options.
 */
export async function startServer({ timeoutMs = 20_000, allowLive = ['ws://127.0.0.1:*'], args: extra = [] } = {}) {
  if (process.env.TWINLENS_URL) {
    const url = new URL(process.env.TWINLENS_URL);
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    return { url: url.href, stop: async () => {} };
  }

  const bin = twinlensBin();
  const args = ['serve', '--dir', distDir(), '--host', '127.0.0.1', '--port', '0'];
  for (const source of allowLive) args.push('--allow-live', source);
  args.push(...extra);
  const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);

  let stdout = '';
  let stderr = '';
  const stop = async () => {
    children.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  const url = await new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        stop().finally(() => reject(err));
      } else {
        resolve(value);
      }
    };
    const describe = () =>
      `command: ${bin} ${args.join(' ')}\n--- stdout ---\n${tail(stdout)}\n--- stderr ---\n${tail(stderr)}`;
    const timer = setTimeout(
      () => finish(new Error(`twinlens serve printed no URL within ${timeoutMs} ms\n${describe()}`)),
      timeoutMs,
    );
    // Keep draining both pipes for the life of the server, or it blocks once a pipe fills.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout = tail(stdout + chunk, 64_000);
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout);
      if (m && Number(m[1]) > 0) finish(null, `http://127.0.0.1:${m[1]}/`);
    });
    child.stderr.on('data', (chunk) => {
      stderr = tail(stderr + chunk, 64_000);
    });
    child.once('error', (e) => finish(new Error(`cannot start ${bin}: ${e.message}\n${describe()}`)));
    child.once('exit', (code, signal) =>
      finish(new Error(`twinlens serve exited (code ${code}, signal ${signal}) before listening\n${describe()}`)),
    );
  });

  child.once('exit', () => children.delete(child));
  return { url, stop };
}

/**
 * Run the twinlens CLI with `args` (which should include --json) and parse the one JSON object it
 * prints. Rejects with the CLI's output when it fails or prints no JSON.
 */
export function cliJson(args, { timeoutMs = 30_000 } = {}) {
  const bin = twinlensBin();
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const text = String(stdout).trim();
      try {
        if (err) throw err;
        const start = text.indexOf('{');
        const end = text.lastIndexOf('}');
        if (start < 0 || end < start) throw new Error('no JSON object in the output');
        resolve(JSON.parse(text.slice(start, end + 1)));
      } catch (e) {
        reject(
          new Error(
            `${bin} ${args.join(' ')}: ${e.message}\n--- stdout ---\n${tail(text)}\n--- stderr ---\n${tail(String(stderr))}`,
          ),
        );
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Browser.
//
// What was checked here (Debian chromium 156.0.8078.108, playwright-core 1.65.1, no GPU), with
// throwaway WebGL2 and WebGPU pages served from 127.0.0.1 by a node http server:
// - With `headless: true` Playwright adds a plain `--headless`; Chromium >= 132 has only the new
//   headless mode, so that already is `--headless=new`.
// - Playwright passes its own `--enable-features=CDPScreenshotNewSurface,...` (and already
//   `--enable-unsafe-swiftshader`). Chromium keeps only the LAST `--enable-features` switch
//   (checked: `--enable-features=Vulkan --enable-features=X` leaves chrome://gpu at "Vulkan:
//   Disabled"), so ours repeats Playwright's features next to `Vulkan` (see `enableFeatures`).
// - Without the Vulkan feature `navigator.gpu.requestAdapter()` still returns an adapter, but
//   creating the device / drawing fails with "OperationError: A valid external Instance
//   reference no longer exists". With it, WebGPU draws.
// - On a 127.0.0.1 page (secure context) with the flags below: WebGPU adapter info
//   { vendor: "google", architecture: "swiftshader", device: "", description: "" },
//   `getPreferredCanvasFormat()` = "rgba8unorm"; WebGL2 RENDERER "WebKit WebGL", unmasked
//   renderer "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)),
//   SwiftShader driver)". Element screenshots of both a WebGL2 and a WebGPU canvas carry the
//   rendered pixels exactly (an orange rect on a dark-blue clear gave the same bytes on both).
//   `probeGpu()` below reads the same facts on any page of the server.

// Playwright's own `--enable-features` list (playwright-core 1.65 chromiumSwitches.ts), merged with
// ours because Chromium honours only the last occurrence of the switch.
const PLAYWRIGHT_FEATURES = [
  process.env.PLAYWRIGHT_LEGACY_SCREENSHOT ? '' : 'CDPScreenshotNewSurface',
  'SkipListAccountsWithoutGaiaCookies',
].filter(Boolean);
const enableFeatures = [...PLAYWRIGHT_FEATURES, 'Vulkan'];

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  `--enable-features=${enableFeatures.join(',')}`,
  '--use-vulkan=swiftshader',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * What the browser offers on a page of `base`'s origin (a secure context): WebGPU adapter info,
 * whether a device can draw, the WebGL2 renderer. The page is an empty one that Playwright
 * answers itself (the request never reaches the server), so nothing of the app runs.
 */
export async function probeGpu(page, base) {
  const url = new URL('__twinlens_gpu_probe__.html', base).href;
  await page.route(url, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>gpu probe</title>' }),
  );
  await page.goto(url);
  return page.evaluate(async () => {
    const out = { secureContext: isSecureContext, webgpu: null, webgl2: null };
    try {
      const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
      if (adapter) {
        const { vendor, architecture, device, description } = adapter.info || {};
        out.webgpu = { vendor, architecture, device, description, format: navigator.gpu.getPreferredCanvasFormat() };
        const dev = await adapter.requestDevice();
        const ctx = document.createElement('canvas').getContext('webgpu');
        ctx.configure({ device: dev, format: navigator.gpu.getPreferredCanvasFormat() });
        const enc = dev.createCommandEncoder();
        enc.beginRenderPass({
          colorAttachments: [{ view: ctx.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }],
        }).end();
        dev.queue.submit([enc.finish()]);
        await dev.queue.onSubmittedWorkDone();
        out.webgpu.drew = true;
        dev.destroy();
      }
    } catch (e) {
      out.webgpuError = String(e);
    }
    const gl = document.createElement('canvas').getContext('webgl2');
    if (gl) {
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      out.webgl2 = { renderer: gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) };
    }
    return out;
  });
}

// Console messages and uncaught page errors, per page.
const logs = new WeakMap();

// Content-Security-Policy violations seen on any page of this test process: the app must run
// without one in every view, so `useServerAndBrowser` fails the file when any was seen.
const cspSeen = [];
const isCsp = (text) => /Content Security Policy|CSP violation/i.test(text);

/** CSP violations reported on `page` (or on every page when none is given). */
export const cspViolations = (page) =>
  page ? (logs.get(page)?.console ?? []).filter(isCsp) : cspSeen.map((v) => v.text);

/**
 * For a test that provokes the policy on purpose: returns `page`'s violations and stops them
 * from failing the file.
 */
export function expectedCspViolations(page) {
  const mine = cspSeen.filter((v) => v.page === page).map((v) => v.text);
  for (let i = cspSeen.length - 1; i >= 0; i--) if (cspSeen[i].page === page) cspSeen.splice(i, 1);
  return mine;
}

/** Start collecting console messages and page errors of `page` (idempotent). */
export function watchPage(page) {
  let log = logs.get(page);
  if (log) return log;
  log = { console: [], errors: [] };
  logs.set(page, log);
  page.on('console', (msg) => {
    const line = `[${msg.type()}] ${msg.text()}`;
    if (isCsp(line)) cspSeen.push({ page, text: `${page.url()}: ${line}` });
    log.console.push(line);
    if (log.console.length > 500) log.console.shift();
  });
  page.on('pageerror', (err) => log.errors.push(String(err && err.stack ? err.stack : err)));
  page.on('crash', () => log.errors.push('page crashed'));
  return log;
}

/** Console messages and uncaught errors seen on `page`, as text to attach to a failure. */
export function pageReport(page) {
  const log = logs.get(page);
  if (!log) return '(page not watched)';
  const c = log.console.length ? log.console.slice(-60).join('\n') : '(none)';
  const e = log.errors.length ? log.errors.join('\n') : '(none)';
  return `--- console (last ${Math.min(60, log.console.length)}) ---\n${c}\n--- page errors ---\n${e}`;
}

/** Uncaught exceptions thrown in `page` so far. */
export const pageErrors = (page) => (logs.get(page)?.errors ?? []).slice();

/** A new context + page of VIEWPORT size at device scale factor 1, watched. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const page = await context.newPage();
  watchPage(page);
  // Report violations in words even where the browser would only count them.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile || ''}:${e.lineNumber || ''}`),
    );
  });
  page.setDefaultTimeout(30_000);
  return page;
}

/**
 * Run `fn(page)` on a fresh page of `browser`; on failure keep a screenshot as the artifact
 * `${name}-failure.png` and append the page's console messages and errors to the error. The
 * page's context is closed afterwards, whatever happened.
 */
export async function withPage(browser, name, fn) {
  const page = await newPage(browser);
  try {
    return await fn(page);
  } catch (e) {
    try {
      saveArtifact(`${name}-failure.png`, await page.screenshot({ timeout: 10_000, caret: 'initial' }));
    } catch {
      // no screenshot to be had (the page crashed or is gone)
    }
    throw withPageReport(e, page);
  } finally {
    await page.context().close().catch(() => {});
  }
}

/** Append the page's console and errors to `err` (an Error or anything thrown) and return it. */
export function withPageReport(err, page) {
  const e = err instanceof Error ? err : new Error(String(err));
  if (!e[REPORTED]) {
    e[REPORTED] = true;
    e.message += `\n${pageReport(page)}`;
  }
  return e;
}
const REPORTED = Symbol('page report attached');

export const stats = (page) => page.evaluate(() => window.twinlens.stats());

/**
 * Open the twin page at `${base}?${query}` and wait until it is ready with a first frame, or
 * failed (state "error"). Returns the stats object. Throws, with console and page errors, when
 * neither happens within `timeoutMs` (SwiftShader is slow: 60 s by default).
 */
export async function openTwin(page, base, query = '', { timeoutMs = 60_000 } = {}) {
  watchPage(page);
  const url = new URL(base);
  url.search = query ? `?${String(query).replace(/^\?/, '')}` : '';
  try {
    await page.goto(url.href, { waitUntil: 'load', timeout: timeoutMs });
    const handle = await page.waitForFunction(
      () => {
        const t = window.twinlens;
        if (!t || typeof t.stats !== 'function') return false;
        const s = t.stats();
        if ((s.state === 'ready' && s.frames >= 1) || s.state === 'error') return s;
        return false;
      },
      null,
      { timeout: timeoutMs, polling: 100 },
    );
    return await handle.jsonValue();
  } catch (e) {
    let last = '(window.twinlens.stats() not available)';
    try {
      last = JSON.stringify(await page.evaluate(() => window.twinlens?.stats?.() ?? null));
    } catch {
      // page gone
    }
    throw withPageReport(new Error(`openTwin(${url.href}): ${e.message}\nlast stats: ${last}`), page);
  }
}

/** Resolve once `pred(stats)` holds (polled in the page every 50 ms, from when the app has started). */
export async function waitForStats(page, pred, { timeoutMs = 30_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let s;
  for (;;) {
    // Until the wasm module has started, the page has no `window.twinlens` yet: keep waiting.
    s = await page.evaluate(() => window.twinlens?.stats?.() ?? null);
    if (s !== null && pred(s)) return s;
    if (Date.now() > deadline) {
      throw withPageReport(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stats: ${JSON.stringify(s)}`), page);
    }
    await sleep(50);
  }
}

/**
 * Wait until `frames` has not changed for `quietMs` (an animation, damping or a pending redraw has
 * finished). Throws if the page never goes quiet within `timeoutMs`.
 */
export async function waitForIdle(page, { quietMs = 500, timeoutMs = 20_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let s = await stats(page);
  let since = Date.now();
  for (;;) {
    await sleep(50);
    const n = await stats(page);
    if (n.frames !== s.frames) {
      s = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return n;
    }
    if (Date.now() > deadline) {
      throw withPageReport(
        new Error(`page kept rendering for ${timeoutMs} ms (frames ${n.frames}); an idle page should render nothing`),
        page,
      );
    }
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Pixels.

/**
 * Screenshot of the `#twin-canvas` element, as `{ png, image }` where `image` is the decoded
 * `{ width, height, data }` (RGBA, 8 bits a channel). Overlays such as `#status` are hidden for
 * the shot. This reads what the compositor shows, which works for WebGL and WebGPU canvases
 * alike (reading the canvas back with drawImage/toDataURL can give a blank image).
 */
export async function canvasPixels(page, { hide = ['#status'] } = {}) {
  // Hidden through the CSSOM, not an injected <style> (the app's CSP refuses inline styles).
  const toggle = (selectors, hidden) =>
    page.evaluate(([sel, on]) => {
      for (const el of document.querySelectorAll(sel.join(', ') || ':not(*)')) {
        el.style.setProperty('visibility', on ? 'hidden' : '', on ? 'important' : '');
      }
    }, [selectors, hidden]);
  if (hide.length) await toggle(hide, true);
  try {
    const png = await page.locator('#twin-canvas').screenshot({ type: 'png', animations: 'disabled', caret: 'initial', timeout: 30_000 });
    return { png, image: decodePng(png) };
  } finally {
    if (hide.length) await toggle(hide, false).catch(() => {});
  }
}

/** Decode a non-interlaced PNG (8 or 16 bits, grey/RGB/palette/grey+alpha/RGBA) to RGBA8. */
export function decodePng(buf) {
  const SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length < 8 || SIG.some((b, i) => buf[i] !== b)) throw new Error('not a PNG');
  let pos = 8;
  let width = 0, height = 0, depth = 0, ctype = 0, interlace = 0;
  let palette = null, trns = null;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    pos += 12 + len;
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      depth = body[8];
      ctype = body[9];
      interlace = body[12];
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
  }
  if (interlace !== 0) throw new Error('interlaced PNG not supported');
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[ctype];
  if (!channels || !(depth === 8 || (depth === 16 && ctype !== 3))) {
    throw new Error(`PNG colour type ${ctype} at ${depth} bits not supported`);
  }
  const bpp = (channels * depth) / 8; // bytes per pixel
  const stride = width * bpp;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  if (raw.length < (stride + 1) * height) throw new Error('PNG data too short');

  // Undo the per-row filters in place into `px`.
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[row + x - bpp] : 0;
      const b = y > 0 ? px[prev + x] : 0;
      const c = x >= bpp && y > 0 ? px[prev + x - bpp] : 0;
      let v = raw[src + x];
      switch (filter) {
        case 0: break;
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`bad PNG filter ${filter} in row ${y}`);
      }
      px[row + x] = v & 0xff;
    }
  }

  const data = new Uint8Array(width * height * 4);
  const step = depth / 8; // take the high byte of 16-bit samples
  for (let i = 0; i < width * height; i++) {
    const s = i * bpp;
    const sample = (k) => px[s + k * step];
    let r, g, b, alpha = 255;
    switch (ctype) {
      case 0: r = g = b = sample(0); break;
      case 2: r = sample(0); g = sample(1); b = sample(2); break;
      case 3: {
        const k = sample(0);
        r = palette[k * 3]; g = palette[k * 3 + 1]; b = palette[k * 3 + 2];
        alpha = trns && k < trns.length ? trns[k] : 255;
        break;
      }
      case 4: r = g = b = sample(0); alpha = sample(1); break;
      case 6: r = sample(0); g = sample(1); b = sample(2); alpha = sample(3); break;
    }
    data.set([r, g, b, alpha], i * 4);
  }
  return { width, height, data };
}

/** Encode RGBA8 `{ width, height, data }` as a PNG (for diff images among the artifacts). */
export function encodePng({ width, height, data }) {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0;
    Buffer.from(data.buffer, data.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  const chunk = (type, body) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let crcTable;
function crc32(buf) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Background colour of an image: per-channel median of its four corner pixels. */
export function cornerColor({ width, height, data }) {
  const idx = [0, width - 1, (height - 1) * width, height * width - 1];
  const out = [];
  for (let ch = 0; ch < 3; ch++) {
    const v = idx.map((i) => data[i * 4 + ch]).sort((a, b) => a - b);
    out.push(Math.round((v[1] + v[2]) / 2));
  }
  return out;
}

/**
 * Share (0..1) of pixels whose colour differs from `bg` by more than `tol` in some RGB channel.
 * `bg` defaults to the corner colour.
 */
export function coverage(image, bg = cornerColor(image), tol = 12) {
  const { width, height, data } = image;
  let n = 0;
  for (let i = 0; i < width * height * 4; i += 4) {
    if (
      Math.abs(data[i] - bg[0]) > tol ||
      Math.abs(data[i + 1] - bg[1]) > tol ||
      Math.abs(data[i + 2] - bg[2]) > tol
    ) {
      n++;
    }
  }
  return n / (width * height);
}

/** Mean absolute difference over the RGB channels of two same-sized images, 0..255. */
export function meanAbsDiff(a, b) {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`image sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
  let sum = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    sum += Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]);
  }
  return sum / (a.width * a.height * 3);
}

/** A picture of where two images differ (brightness = largest channel difference × 4). */
export function diffImage(a, b) {
  const data = new Uint8Array(a.data.length);
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(
      Math.abs(a.data[i] - b.data[i]),
      Math.abs(a.data[i + 1] - b.data[i + 1]),
      Math.abs(a.data[i + 2] - b.data[i + 2]),
    );
    const v = Math.min(255, d * 4);
    data.set([v, v, v, 255], i);
  }
  return { width: a.width, height: a.height, data };
}

/** Remove earlier runs' artifacts whose names start with `prefix` from tests/browser/output/. */
export function clearArtifacts(prefix) {
  if (!prefix) throw new Error('clearArtifacts needs a prefix (each test file clears only its own files)');
  let names = [];
  try {
    names = fs.readdirSync(OUTPUT_DIR);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) fs.rmSync(path.join(OUTPUT_DIR, n), { force: true });
}

/** Write `buffer` to tests/browser/output/<name> (gitignored) and return the path. */
export function saveArtifact(name, buffer) {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, name.replace(/[^A-Za-z0-9._-]+/g, '_'));
  fs.writeFileSync(file, buffer);
  return file;
}

/**
 * Registers hooks that start one app server and one browser for the calling test file and stop
 * them afterwards. Returns an object whose `server` and `browser` are set once the hooks ran.
 * `artifacts`: a file-name prefix under tests/browser/output/ to clear first.
 */
export function useServerAndBrowser({ artifacts, server = {} } = {}) {
  const app = { server: null, browser: null };
  before(
    async () => {
      if (artifacts) clearArtifacts(artifacts);
      app.server = await startServer(server);
      app.browser = await launchBrowser();
    },
    { timeout: 90_000 },
  );
  after(
    async () => {
      await app.browser?.close().catch(() => {});
      await app.server?.stop();
      if (cspSeen.length) {
        throw new Error(`Content-Security-Policy violations in this file's pages:\n${cspSeen.map((v) => v.text).join('\n')}`);
      }
    },
    { timeout: 30_000 },
  );
  return app;
}
