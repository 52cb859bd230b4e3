#!/usr/bin/env node
// The benchmark suite's runner (scripts/bench.sh calls it after building): measures twinlens and
// the three.js reference (bench/threejs/) in headless Chromium on the same scenarios, backends,
// flags and feeds, folds in the host benchmarks (criterion, benches/core.rs), and writes
// bench/results/<UTC timestamp>.json and .md. See bench/README.md.
//
//   node bench/run.mjs [--quick] [--only demo,plant,live,assembly,xr] [--backends webgpu,webgl]
//                      [--impls twinlens,threejs] [--soak-seconds N] [--no-criterion]
//                      [--viewport 1280x720] [--keep-temp]
//   node bench/run.mjs --render bench/results/<stamp>.json   (rewrite its .md from the JSON)
//
// `assembly` stands for the three CAD-assembly scenarios (assembly10k, assembly100k,
// assemblyLive; `twinlens gen-assembly`), which can also be named one by one.
//
// Needs: dist/ (trunk build --release), target/debug/twinlens (cargo build -p twinlens-cli),
// npm dev dependencies (playwright-core, ws, three), /usr/bin/chromium.
//
// Exit status: 0 whenever the suite ran, whatever the figures (a missed budget is reported, not
// fatal; a scenario that failed is reported with its error); 1 when the harness itself broke
// (no server, no browser, nothing measured); 2 when the whole run passed its time limit.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import * as h from '../tests/browser/harness.mjs';
import { startFeed, sensorIds } from './feed.mjs';

const ROOT = h.REPO_ROOT;
const rel = (p) => path.relative(ROOT, p) || '.';

// ---------------------------------------------------------------------------------------------
// Options.

const ASSEMBLY_SCENARIOS = ['assembly10k', 'assembly100k', 'assemblyLive'];
// During a 10k-sensor window memory (after a forced GC) is sampled this often.
const MEMORY_SAMPLE_S = 30;
// Growth is measured from this long after a sensor history window has filled (history window +
// this, from the first reading on the page) to the end of the window.
const FILL_MARGIN_S = 30;
// The manifests' default history window (src/manifest.rs default_history_window).
const DEFAULT_HISTORY_WINDOW_S = 600;

function parseArgs(argv) {
  const o = {
    quick: false,
    only: ['demo', 'plant', 'live', 'assembly', 'xr'],
    backends: ['webgpu', 'webgl'],
    impls: ['twinlens', 'threejs'],
    soakSeconds: null,
    criterion: true,
    viewport: { width: 1280, height: 720 },
    keepTemp: false,
    outDir: path.join(ROOT, 'bench', 'results'),
  };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const val = () => {
      const v = inline !== undefined ? inline : argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    switch (k) {
      case '--quick': o.quick = true; break;
      case '--full': o.quick = false; break;
      case '--only': o.only = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--backends': o.backends = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--impls': o.impls = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--no-threejs': o.impls = o.impls.filter((x) => x !== 'threejs'); break;
      case '--soak-seconds': o.soakSeconds = Number(val()); break;
      case '--no-criterion': o.criterion = false; break;
      case '--viewport': {
        const m = /^(\d+)x(\d+)$/.exec(val());
        if (!m) throw new Error('--viewport WIDTHxHEIGHT');
        o.viewport = { width: Number(m[1]), height: Number(m[2]) };
        break;
      }
      case '--keep-temp': o.keepTemp = true; break;
      case '--render': o.render = path.resolve(val()); break;
      case '--out-dir': o.outDir = path.resolve(val()); break;
      case '-h': case '--help':
        console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 16).join('\n'));
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${argv[i]} (see --help)`);
    }
  }
  o.only = o.only.flatMap((x) => (x === 'assembly' ? ASSEMBLY_SCENARIOS : [x]));
  for (const b of o.backends) if (!['webgpu', 'webgl'].includes(b)) throw new Error(`unknown backend ${b}`);
  for (const x of o.impls) if (!['twinlens', 'threejs'].includes(x)) throw new Error(`unknown impl ${x}`);
  if (o.soakSeconds !== null && !(Number.isFinite(o.soakSeconds) && o.soakSeconds > 0)) {
    throw new Error('--soak-seconds needs a number of seconds above 0');
  }
  o.durations = o.quick
    ? { warmupS: 3, demoS: 6, plantS: 6, soakS: o.soakSeconds ?? 30, loadTimeoutS: 120 }
    : { warmupS: 5, demoS: 20, plantS: 20, soakS: o.soakSeconds ?? 300, loadTimeoutS: 180 };
  // assemblyLive is measured for the plant window unless --soak-seconds is given, which then
  // sets the window of both 10k-sensor scenarios (live and assemblyLive).
  o.durations.assemblyLiveS = o.soakSeconds ?? o.durations.plantS;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const D = opts.durations;

// The whole run is bounded: a hung browser or server never keeps the command going. The
// bound grows with what was asked for: the host benchmarks (their own kill timer), every case's
// load and window, and each 10k-sensor window with its memory samples (a forced GC and a
// stats() read every 30 s, each waiting for a page that may draw a frame every few seconds),
// so a long --soak-seconds (2460 s: 30 min after a 600 s history window fills) is not cut off.
const casesPerScenario = opts.backends.length * opts.impls.length;
const assemblyCases = opts.only.filter((x) => ASSEMBLY_SCENARIOS.includes(x)).length;
const criterionLimitS = (q) => (q ? 900 : 1800);
const soakAllowanceS = (s) => s + Math.ceil(s / MEMORY_SAMPLE_S) * 10 + 60;
const budgetS =
  600 +
  (opts.criterion ? criterionLimitS(opts.quick) : 0) +
  casesPerScenario * (3 * (D.loadTimeoutS + 60) + D.demoS + D.plantS + soakAllowanceS(D.soakS) + 3 * D.warmupS) +
  casesPerScenario * assemblyCases * (D.loadTimeoutS + 60 + D.plantS + 10) +
  (opts.only.includes('assemblyLive') ? casesPerScenario * soakAllowanceS(D.assemblyLiveS) : 0);
const watchdog = setTimeout(() => {
  console.error(`bench: the run passed its time limit (${budgetS} s); stopping`);
  process.exit(2);
}, budgetS * 1000);
watchdog.unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('bench:', ...a);

// ---------------------------------------------------------------------------------------------
// Environment.

function sh(cmd, args, options = {}) {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], ...options }).trim();
  } catch {
    return null;
  }
}

function machineInfo() {
  const cpus = os.cpus();
  let osName = `${os.type()} ${os.release()}`;
  try {
    const rel = fs.readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(rel);
    if (m) osName = `${m[1]} (${os.type()} ${os.release()})`;
  } catch {
    // not Linux
  }
  const commit = sh('git', ['rev-parse', 'HEAD']);
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no']);
  let threeVersion = null;
  try {
    threeVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/three/package.json'), 'utf8')).version;
  } catch {
    // not installed
  }
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    ramBytes: os.totalmem(),
    os: osName,
    node: process.version,
    three: threeVersion,
    git: { commit, dirty: dirty === null ? null : dirty.length > 0 },
  };
}

// ---------------------------------------------------------------------------------------------
// Transfer sizes.

function sizes(buf) {
  return {
    raw: buf.length,
    gzip: zlib.gzipSync(buf, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(buf, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length },
    }).length,
  };
}

function addSizes(list) {
  return list.reduce((a, f) => ({ raw: a.raw + f.raw, gzip: a.gzip + f.gzip, brotli: a.brotli + f.brotli }), { raw: 0, gzip: 0, brotli: 0 });
}

function distTransfer(dist) {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  walk(dist);
  const entries = files.map((p) => {
    const name = path.relative(dist, p);
    const kind = /\.wasm$/.test(name) ? 'wasm' : /\.js$/.test(name) ? 'js' : 'asset';
    return { name, kind, ...sizes(fs.readFileSync(p)) };
  });
  const app = entries.filter((e) => e.kind !== 'asset');
  return {
    files: entries,
    wasm: addSizes(entries.filter((e) => e.kind === 'wasm')),
    js: addSizes(entries.filter((e) => e.kind === 'js')),
    app: addSizes(app),
    assets: addSizes(entries.filter((e) => e.kind === 'asset')),
    all: addSizes(entries),
  };
}

// ---------------------------------------------------------------------------------------------
// Host benchmarks (criterion).

function targetDir() {
  return process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
}

async function runCriterion() {
  const started = Date.now();
  const args = ['bench', '--bench', 'core', '--', '--noplot'];
  if (opts.quick) args.push('--quick', '--warm-up-time', '1', '--measurement-time', '1');
  log(`host benchmarks: cargo ${args.join(' ')}`);
  const out = await new Promise((resolve) => {
    const child = spawn('cargo', args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TWINLENS_BENCH_GENERATED: path.join(ROOT, 'bench', 'generated') },
    });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), criterionLimitS(opts.quick) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, text });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, text: String(e) });
    });
  });
  const results = [];
  const base = path.join(targetDir(), 'criterion');
  const walk = (dir) => {
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (!e.isDirectory()) continue;
      if (e.name === 'new') {
        try {
          const est = path.join(p, 'estimates.json');
          if (fs.statSync(est).mtimeMs < started) continue; // from an earlier run
          const estimates = JSON.parse(fs.readFileSync(est, 'utf8'));
          const bench = JSON.parse(fs.readFileSync(path.join(p, 'benchmark.json'), 'utf8'));
          const meanNs = estimates.mean.point_estimate;
          const tp = bench.throughput || null;
          const elements = tp && (tp.Elements ?? tp.ElementsAndBytes?.elements);
          const bytes = tp && (tp.Bytes ?? tp.BytesDecimal);
          results.push({
            id: bench.full_id || `${bench.group_id}/${bench.function_id}`,
            meanNs,
            medianNs: estimates.median.point_estimate,
            ciNs: [estimates.mean.confidence_interval.lower_bound, estimates.mean.confidence_interval.upper_bound],
            elementsPerSecond: elements ? (elements * 1e9) / meanNs : null,
            bytesPerSecond: bytes ? (bytes * 1e9) / meanNs : null,
          });
        } catch {
          // incomplete entry
        }
      } else {
        walk(p);
      }
    }
  };
  walk(base);
  results.sort((a, b) => a.id.localeCompare(b.id));
  const ok = out.code === 0;
  if (!ok) log(`host benchmarks failed (exit ${out.code}):\n${out.text.slice(-3000)}`);
  return { ok, exitCode: out.code, command: `cargo ${args.join(' ')}`, results, error: ok ? null : out.text.slice(-3000) };
}

// ---------------------------------------------------------------------------------------------
// What the pages are served from: a temporary folder of links to dist/, the generated plant,
// the three.js reference and three itself, plus the manifests written for this run. One
// `twinlens serve` serves it all from one loopback origin (real HTTP, real sizes, /ws/sim).

/** A copy of dist/ taken now: a `trunk build` running elsewhere during the suite (it renames the
 * hashed wasm and JS) cannot change what is measured. */
function snapshotDist() {
  const dist = h.distDir();
  if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist}/index.html missing: run trunk build --release`);
  const site = fs.mkdtempSync(path.join(os.tmpdir(), 'twinlens-bench-'));
  fs.cpSync(dist, site, { recursive: true, dereference: true });
  return site;
}

/** Each fed scenario's sensor history window (seconds) and where it was read, from the
 * manifest written for this run. */
const HISTORY_WINDOWS = {};

function historyWindow(manifest) {
  const w = manifest?.history?.windowSeconds;
  return isNum(w) && w > 0
    ? { seconds: w, from: 'the manifest\'s history.windowSeconds' }
    : { seconds: DEFAULT_HISTORY_WINDOW_S, from: 'the default (the manifest sets no history.windowSeconds)' };
}

function prepareSite(site, feedUrl, assemblyFeedUrl) {
  const dist = site;
  const b = path.join(site, 'bench');
  fs.mkdirSync(path.join(b, 'live'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'bench', 'threejs'), path.join(b, 'threejs'));
  fs.symlinkSync(path.join(ROOT, 'bench', 'generated'), path.join(b, 'generated'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'three'), path.join(b, 'three'));

  // 1. The demo twin with the simulated feed of `twinlens serve` (/ws/sim).
  const demo = JSON.parse(fs.readFileSync(path.join(dist, 'demo', 'pump-skid.twin.json'), 'utf8'));
  demo.model.url = '/demo/pump-skid.glb';
  demo.source = {
    url: '/ws/sim',
    adapter: 'json',
    payload: { readings: '/readings', id: '/id', value: '/v', timestamp: '/t' },
  };
  fs.writeFileSync(path.join(b, 'live', 'demo.twin.json'), JSON.stringify(demo));
  // 2. The scaled plant, its sensors bound, no live source.
  const gen = path.join(ROOT, 'bench', 'generated');
  const plant = JSON.parse(fs.readFileSync(path.join(gen, 'plant.twin.json'), 'utf8'));
  plant.model.url = '/bench/generated/plant.glb';
  fs.writeFileSync(path.join(b, 'live', 'plant.twin.json'), JSON.stringify(plant));
  // 3. 10,000 sensors fed by bench/feed.mjs.
  const live = JSON.parse(fs.readFileSync(path.join(gen, 'plant-10k.twin.json'), 'utf8'));
  live.model.url = '/bench/generated/plant.glb';
  live.source.url = feedUrl;
  fs.writeFileSync(path.join(b, 'live', 'plant-10k.twin.json'), JSON.stringify(live));
  HISTORY_WINDOWS.live = historyWindow(live);
  // 4. The CAD assemblies (those generated for this run): static, and 10,000 sensors fed.
  const assembly = (name) => {
    const file = path.join(gen, name);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
  };
  const a10k = assembly('assembly-10k-live.twin.json');
  if (a10k) {
    a10k.model.url = '/bench/generated/assembly-10k.glb';
    a10k.source.url = assemblyFeedUrl;
    fs.writeFileSync(path.join(b, 'live', 'assembly-10k-live.twin.json'), JSON.stringify(a10k));
    HISTORY_WINDOWS.assemblyLive = historyWindow(a10k);
    const { source, ...bare } = a10k;
    fs.writeFileSync(path.join(b, 'live', 'assembly-10k.twin.json'), JSON.stringify({ ...bare, sensors: [] }));
  }
  const a100k = assembly('assembly-100k.twin.json');
  if (a100k) {
    a100k.model.url = '/bench/generated/assembly-100k.glb';
    fs.writeFileSync(path.join(b, 'live', 'assembly-100k.twin.json'), JSON.stringify(a100k));
  }
  return site;
}

// ---------------------------------------------------------------------------------------------
// One measured case: one implementation on one backend in one scenario.

const SCENARIOS = {
  demo: { title: 'Demo twin (pump skid, 14 sensors, simulated feed at /ws/sim)', manifest: 'bench/live/demo.twin.json', live: true },
  plant: { title: 'Scaled plant (1,000 units, ~1M triangles, 2,000 bound sensors, no feed)', manifest: 'bench/live/plant.twin.json', live: false },
  live: { title: '10,000 sensors at 10 Hz (100,000 samples/s) on the scaled plant, labels and colouring', manifest: 'bench/live/plant-10k.twin.json', live: true, heavyFeed: true },
  // CAD-like assemblies: every part its own node and mesh (no reuse), 9 materials; three.js
  // draws them with one BatchedMesh per material (bench/threejs/main.js, batch=material).
  assembly10k: {
    title: 'CAD assembly, 10,000 parts (each its own node and mesh, ~0.5M triangles), static',
    manifest: 'bench/live/assembly-10k.twin.json', live: false, seconds: 'plantS', threeQuery: 'batch=material',
  },
  assembly100k: {
    title: 'CAD assembly, 100,000 parts (each its own node and mesh, ~5.1M triangles), static',
    manifest: 'bench/live/assembly-100k.twin.json', live: false, seconds: 'plantS', threeQuery: 'batch=material',
  },
  assemblyLive: {
    title: 'CAD assembly, 10,000 parts with 10,000 sensors at 10 Hz (one per part), labels and colouring',
    manifest: 'bench/live/assembly-10k-live.twin.json', live: true, heavyFeed: true, seconds: 'assemblyLiveS', threeQuery: 'batch=material',
  },
};

/** Fields read from `window.twinlens.stats()` / `window.bench.stats()`, picked in the page so a
 * 10,000-entry `readings` map never crosses to node. */
function readStats(page, api) {
  return page.evaluate((api) => {
    const t = window[api];
    if (!t || typeof t.stats !== 'function') return null;
    const s = t.stats();
    const c = s.connection || null;
    return {
      state: s.state ?? null,
      backend: s.backend ?? null,
      backendNote: s.backendNote ?? null,
      renderer: s.renderer ?? null,
      frames: s.frames ?? null,
      drawCalls: s.drawCalls ?? null,
      triangles: s.triangles ?? null,
      nodes: s.nodes ?? null,
      sensors: s.sensors ?? null,
      sensorsBound: s.sensorsBound ?? null,
      instancedMeshes: s.instancedMeshes ?? null,
      batchedMeshes: s.batchedMeshes ?? null,
      // twinlens lists every label (an array); the three.js reference counts them.
      labels: Array.isArray(s.labels) ? s.labels.length : typeof s.labels === 'number' ? s.labels : null,
      labelsFull: Array.isArray(s.labels) ? s.labels.filter((l) => l && l.visible && !l.marker).length : null,
      labelsMarkers: Array.isArray(s.labels) ? s.labels.filter((l) => l && l.visible && l.marker).length : null,
      labelsDrawn: typeof s.labelsDrawn === 'number' ? s.labelsDrawn : null,
      lastError: s.lastError ?? null,
      firstFrameMs: s.firstFrameMs ?? null,
      // twinlens only: the first frame with the whole model on the GPU (ms from navigation) and
      // the frames drawn before it, each showing what had landed.
      modelUploadedMs: s.modelUploadedMs ?? null,
      modelUploadFrames: s.modelUploadFrames ?? null,
      // twinlens only: per-part tint uploads (`max*`: the largest single tint change so far).
      nodeUpload: s.nodeUpload
        ? {
            lastBytes: s.nodeUpload.lastBytes ?? null,
            lastWrites: s.nodeUpload.lastWrites ?? null,
            maxBytes: s.nodeUpload.maxBytes ?? null,
            maxWrites: s.nodeUpload.maxWrites ?? null,
            maxTinted: s.nodeUpload.maxTinted ?? null,
          }
        : null,
      cpuMsLastFrame: s.cpuMsLastFrame ?? null,
      msaa: s.msaa ?? null,
      canvas: [s.canvasWidth ?? null, s.canvasHeight ?? null],
      timings: s.timings ?? null,
      wasmBytes: s.memory && typeof s.memory.wasmBytes === 'number' ? s.memory.wasmBytes : null,
      jsHeap: performance.memory ? performance.memory.usedJSHeapSize : null,
      connection: c
        ? {
            status: c.status ?? null,
            frames: c.framesIn ?? c.frames ?? null,
            samples: c.samplesIn ?? c.samples ?? null,
            coalesced: c.samplesCoalesced ?? null,
            dropped: c.framesDropped ?? null,
          }
        : null,
      hasXr: t.xr !== undefined && t.xr !== null,
      canReset: typeof t.resetTimings === 'function',
    };
  }, api);
}

async function memorySnapshot(page, cdp, api, gc) {
  if (gc && cdp) {
    try {
      await cdp.send('HeapProfiler.collectGarbage');
      await sleep(200);
    } catch {
      // not available
    }
  }
  const s = await readStats(page, api);
  const wasm = s?.wasmBytes ?? null;
  const js = s?.jsHeap ?? null;
  return { atMs: Date.now(), wasmBytes: wasm, jsHeapBytes: js, totalBytes: wasm === null && js === null ? null : (wasm ?? 0) + (js ?? 0) };
}

/** A timeline entry: `snap` (memorySnapshot) at its time since `originMs`. */
const timelineEntry = (snap, originMs) => ({
  t_s: Math.round((snap.atMs - originMs) / 100) / 10,
  wasmBytes: snap.wasmBytes,
  jsHeapBytes: snap.jsHeapBytes,
  totalBytes: snap.totalBytes,
});

/** Growth over a memory timeline from its first entry at or after `fromS` (timeline seconds) to
 * its last entry; null figures when no entry is there, or none after it. */
function growthFrom(timeline, fromS) {
  const i = isNum(fromS) ? timeline.findIndex((e) => e.t_s >= fromS) : -1;
  const last = timeline[timeline.length - 1];
  if (i < 0 || !last || i === timeline.length - 1) return { fromT_s: i < 0 ? null : timeline[i].t_s, toT_s: null, spanS: null, pct: null };
  const a = timeline[i].totalBytes;
  const b = last.totalBytes;
  return {
    fromT_s: timeline[i].t_s,
    toT_s: last.t_s,
    spanS: Math.round((last.t_s - timeline[i].t_s) * 10) / 10,
    pct: isNum(a) && a > 0 && isNum(b) ? ((b - a) / a) * 100 : null,
  };
}

async function runCase(browser, base, scenario, impl, backend) {
  const sc = SCENARIOS[scenario];
  const api = impl === 'twinlens' ? 'twinlens' : 'bench';
  const url =
    impl === 'twinlens'
      ? `${base}?manifest=${sc.manifest}&backend=${backend}&continuous=1`
      : `${base}bench/threejs/index.html?manifest=/${sc.manifest}&backend=${backend}${sc.threeQuery ? `&${sc.threeQuery}` : ''}`;
  const result = { scenario, impl, backend, url, ok: false, notes: [] };
  // The three.js reference page sets its import map with an inline script, which the app's
  // Content-Security-Policy (sent by twinlens serve for every file) forbids; it runs without it.
  const context = await browser.newContext({ viewport: opts.viewport, deviceScaleFactor: 1, bypassCSP: impl !== 'twinlens' });
  const page = await context.newPage();
  h.watchPage(page);
  page.setDefaultTimeout(60_000);
  const jsFetched = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (/\.(m?js|wasm)$/.test(u.pathname)) jsFetched.push(u.pathname);
  });
  let cdp = null;
  try {
    cdp = await context.newCDPSession(page);
  } catch {
    result.notes.push('no CDP session: memory read without forced GC');
  }
  // When the feed started delivering to this page: the first WebSocket frame Playwright reports
  // (node's clock on arrival, so never early), or else the first stats() with samples.
  let feedFirstFrameMs = null;
  let feedFirstStatsMs = null;
  if (sc.heavyFeed) {
    page.on('websocket', (ws) => {
      const onFrame = () => {
        if (feedFirstFrameMs === null) feedFirstFrameMs = Date.now();
        ws.off('framereceived', onFrame);
      };
      ws.on('framereceived', onFrame);
    });
  }
  const sawSamples = (st) => {
    if (feedFirstStatsMs === null && st?.connection && st.connection.samples > 0) feedFirstStatsMs = Date.now();
  };
  const navStart = Date.now();
  try {
    await page.goto(url, { waitUntil: 'load', timeout: D.loadTimeoutS * 1000 });
    // Ready: first frame drawn (or an error). Polled gently: stats() is not free with 10k sensors.
    let s = null;
    const deadline = Date.now() + D.loadTimeoutS * 1000;
    for (;;) {
      s = await readStats(page, api);
      sawSamples(s);
      if (s && ((s.state === 'ready' && s.frames >= 1) || s.state === 'error')) break;
      if (Date.now() > deadline) throw new Error(`not ready within ${D.loadTimeoutS} s; last stats ${JSON.stringify(s)}`);
      await sleep(250);
    }
    result.readyMs = Date.now() - navStart;
    if (s.state === 'error') throw new Error(`page reports an error: ${s.lastError}`);
    result.firstFrameMs = s.firstFrameMs;
    result.backendReported = s.backend;
    result.renderer = s.renderer;
    if (s.backendNote) result.notes.push(s.backendNote);
    if (s.backend && s.backend !== backend) result.notes.push(`asked for ${backend}, got ${s.backend}`);
    if (s.lastError) result.notes.push(`status line: ${String(s.lastError).split('\n')[0].slice(0, 200)}`);
    result.hasXr = s.hasXr;

    // Warm-up: the feed connects, histories fill, shaders and pipelines settle.
    const f0 = s.frames;
    // The 10k-sensor page needs longer to settle (labels built, socket backlog drained).
    const warmupS = sc.heavyFeed ? Math.max(D.warmupS, 10) : D.warmupS;
    {
      // A fed 10k-sensor page is looked at once a second until its first readings show.
      const until = Date.now() + warmupS * 1000;
      while (sc.heavyFeed && feedFirstStatsMs === null && feedFirstFrameMs === null && Date.now() < until - 1000) {
        await sleep(1000);
        sawSamples(await readStats(page, api));
      }
      await sleep(Math.max(0, until - Date.now()));
    }
    s = await readStats(page, api);
    sawSamples(s);
    // Without a feed nothing changes on the page: only continuous rendering draws frames then.
    if (impl === 'twinlens' && !sc.live && s.frames - f0 < 2) {
      result.notes.push(
        `${s.frames - f0} frames in ${warmupS} s of warm-up without a feed: continuous rendering (?continuous=1) seems not active; figures cover frames rendered on change only`,
      );
    }
    if (sc.live) {
      const t0 = Date.now();
      while (!(s.connection && s.connection.samples > 0) && Date.now() - t0 < 20_000) {
        await sleep(500);
        s = await readStats(page, api);
        sawSamples(s);
      }
      if (!(s.connection && s.connection.samples > 0)) result.notes.push('no readings arrived from the feed');
    }

    // Measurement window.
    const seconds = sc.seconds ? D[sc.seconds] : scenario === 'demo' ? D.demoS : scenario === 'plant' ? D.plantS : D.soakS;
    result.memoryStart = await memorySnapshot(page, cdp, api, true);
    // 10k-sensor windows: memory after a forced GC, as at the start and end, every 30 s of the
    // window and at the moment the history window has filled (history window + 30 s after the
    // first reading). t_s counts from the start sample.
    const origin = result.memoryStart.atMs;
    const timeline = sc.heavyFeed ? [timelineEntry(result.memoryStart, origin)] : null;
    let fill = null;
    if (sc.heavyFeed) {
      const hw = HISTORY_WINDOWS[scenario] ?? historyWindow(null);
      const feedStartedAtMs = feedFirstFrameMs ?? feedFirstStatsMs;
      const offsetS = feedStartedAtMs === null ? null : (origin - feedStartedAtMs) / 1000;
      const fillAfterFeedS = hw.seconds + FILL_MARGIN_S;
      fill = {
        historyWindowS: hw.seconds,
        historyWindowFrom: hw.from,
        feedStartedAtMs,
        feedStartFrom: feedFirstFrameMs !== null ? 'first WebSocket frame on the page' : feedFirstStatsMs !== null ? 'first stats() with samples' : null,
        // t_s 0 of the timeline is this many seconds after the feed started delivering.
        timelineStartAfterFeedS: offsetS === null ? null : Math.round(offsetS * 10) / 10,
        fillAfterFeedS,
        fillAtT_s: offsetS === null ? null : Math.round(Math.max(0, fillAfterFeedS - offsetS) * 10) / 10,
      };
    }
    if (s.canReset) await page.evaluate((api) => window[api].resetTimings(), api);
    else result.notes.push('resetTimings() not available: timings (if any) include loading');
    const before = await readStats(page, api);
    const started = Date.now();
    const endMs = started + seconds * 1000;
    // When to sample, as epoch ms: every 30 s from the start sample, and the fill point.
    const targets = [];
    if (timeline) {
      const fillAt = isNum(fill.fillAtT_s) && fill.fillAtT_s > 0 ? origin + fill.fillAtT_s * 1000 : null;
      for (let t = origin + MEMORY_SAMPLE_S * 1000; t < endMs - 2000; t += MEMORY_SAMPLE_S * 1000) {
        if (fillAt === null || Math.abs(t - fillAt) >= 5000) targets.push(t);
      }
      if (fillAt !== null && fillAt < endMs) targets.push(fillAt);
      targets.sort((a, b) => a - b);
    }
    for (const at of targets) {
      if (Date.now() < at) await sleep(at - Date.now());
      if (Date.now() >= endMs) break;
      timeline.push(timelineEntry(await memorySnapshot(page, cdp, api, true), origin));
    }
    if (Date.now() < endMs) await sleep(endMs - Date.now());
    const elapsed = (Date.now() - started) / 1000;
    const after = await readStats(page, api);
    result.memoryEnd = await memorySnapshot(page, cdp, api, true);
    if (timeline) {
      timeline.push(timelineEntry(result.memoryEnd, origin));
      result.memoryTimeline = timeline;
      // Growth from the first sample at or after the fill point to the end of the window.
      const g = fill.fillAtT_s === null ? growthFrom([], null) : growthFrom(timeline, fill.fillAtT_s);
      Object.assign(fill, { fromT_s: g.fromT_s, toT_s: g.toT_s, spanS: g.spanS });
      // The window length (from the start sample) that would have reached the fill point.
      fill.needsSoakS = fill.fillAtT_s === null ? null : Math.ceil(fill.fillAtT_s);
      result.memoryFill = fill;
      result.memoryGrowthAfterFillPct = g.pct;
      if (fill.feedStartedAtMs === null) result.notes.push('no readings seen: the history fill point is unknown');
    }
    result.seconds = elapsed;
    result.frames = after.frames - before.frames;
    result.fps = result.frames / elapsed;
    result.timings = after.timings;
    if (after.timings && !(after.timings.frames > 0)) {
      result.timings = null;
      result.notes.push('stats().timings counted no frame in the window');
    }
    result.drawCalls = after.drawCalls;
    result.triangles = after.triangles;
    result.nodes = after.nodes;
    result.sensors = after.sensors;
    result.sensorsBound = after.sensorsBound;
    result.msaa = after.msaa;
    result.canvas = after.canvas;
    result.instancedMeshes = after.instancedMeshes;
    result.batchedMeshes = after.batchedMeshes;
    result.labels = after.labels;
    result.labelsFull = after.labelsFull;
    result.labelsMarkers = after.labelsMarkers;
    result.labelsDrawn = after.labelsDrawn;
    // Read at the end of the case: a large model may still have been uploading at the first
    // frame, and the largest tint change may have come with the first readings of the warm-up.
    result.modelUploadedMs = after.modelUploadedMs;
    result.modelUploadFrames = after.modelUploadFrames;
    result.nodeUpload = after.nodeUpload;
    if (after.connection && before.connection) {
      const d = (k) => (after.connection[k] ?? 0) - (before.connection[k] ?? 0);
      const samplesPerSecond = d('samples') / elapsed;
      // Each frame applies whatever arrived since the last one: at a low frame rate (a CPU
      // rasteriser) that is far more than at 60 frames/s. Per-sample cost and a 60 frames/s
      // estimate put the per-frame figures in proportion.
      const perFrame = result.fps > 0 ? samplesPerSecond / result.fps : null;
      const applyP50 = get(result, 'timings.applyMs.p50');
      const usPerSample = perFrame && isNum(applyP50) ? (applyP50 * 1000) / perFrame : null;
      result.feed = {
        status: after.connection.status,
        framesPerSecond: d('frames') / elapsed,
        samplesPerSecond,
        samplesPerFrame: perFrame,
        applyUsPerSample: usPerSample,
        applyMsAt60fps: isNum(usPerSample) ? (usPerSample * samplesPerSecond) / 60 / 1000 : null,
        coalescedPerSecond: after.connection.coalesced === null ? null : d('coalesced') / elapsed,
        framesDropped: after.connection.dropped,
      };
    }
    const m0 = result.memoryStart.totalBytes;
    const m1 = result.memoryEnd.totalBytes;
    result.memoryGrowthPct = m0 && m1 !== null ? ((m1 - m0) / m0) * 100 : null;
    const errors = h.pageErrors(page);
    if (errors.length) result.notes.push(`page errors: ${errors.slice(0, 3).join(' | ').slice(0, 500)}`);
    result.ok = true;
  } catch (e) {
    result.error = `${e.message}`.slice(0, 2000);
    result.pageReport = h.pageReport(page).slice(-3000);
    log(`  ${scenario}/${impl}/${backend} failed: ${result.error.split('\n')[0]}`);
  } finally {
    result.scriptsFetched = [...new Set(jsFetched)];
    await context.close().catch(() => {});
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// 4. An immersive VR session on an emulated Meta Quest 3 (IWER, npm `iwer`, installed before the
// app starts as tests/browser/xr.test.mjs does), on the demo twin with its feed: XR frames per
// second and the app's own XR figures from `stats().xr`.

async function runXrCase(browser, base, backend) {
  const result = { scenario: 'xr', impl: 'twinlens', backend, ok: false, notes: [] };
  const iwer = path.join(ROOT, 'node_modules', 'iwer', 'build', 'iwer.js');
  if (!fs.existsSync(iwer)) {
    result.error = 'npm iwer is not installed (node_modules/iwer/build/iwer.js)';
    return result;
  }
  const context = await browser.newContext({ viewport: opts.viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  h.watchPage(page);
  page.setDefaultTimeout(60_000);
  try {
    await page.addInitScript({ path: iwer });
    await page.addInitScript(() => {
      const { XRDevice, metaQuest3 } = window.IWER;
      const device = new XRDevice(metaQuest3, { stereoEnabled: true });
      device.installRuntime({ forceInstall: true });
      device.position.set(0.0, 1.6, 3.0); // standing 3 m in front of the skid
      window.__iwer = { device };
    });
    const url = `${base}?manifest=${SCENARIOS.demo.manifest}&backend=${backend}&continuous=1`;
    result.url = url;
    await page.goto(url, { waitUntil: 'load', timeout: D.loadTimeoutS * 1000 });
    await page.waitForFunction(
      () => {
        const s = window.twinlens?.stats?.();
        return s && ((s.state === 'ready' && s.frames >= 1) || s.state === 'error');
      },
      null,
      { timeout: D.loadTimeoutS * 1000, polling: 250 },
    );
    const button = page.locator('#xr-enter-vr');
    await button.waitFor({ state: 'visible', timeout: 30_000 });
    await button.click();
    const xrStats = () => page.evaluate(() => window.twinlens.stats().xr ?? null);
    const deadline = Date.now() + 60_000;
    let x = await xrStats();
    while (!(x && x.active && x.frames >= 3)) {
      if (Date.now() > deadline) throw new Error(`the VR session did not run within 60 s; xr stats ${JSON.stringify(x)?.slice(0, 500)}`);
      await sleep(250);
      x = await xrStats();
    }
    await sleep(D.warmupS * 1000);
    if (await page.evaluate(() => typeof window.twinlens.resetTimings === 'function')) {
      await page.evaluate(() => window.twinlens.resetTimings());
    }
    const x0 = await xrStats();
    const t0 = Date.now();
    await sleep(D.demoS * 1000);
    const x1 = await xrStats();
    const elapsed = (Date.now() - t0) / 1000;
    const after = await readStats(page, 'twinlens');
    result.seconds = elapsed;
    result.xr = {
      mode: x1.mode ?? null,
      path: x1.path ?? null,
      renderer: x1.renderer ?? null,
      views: x1.views ?? null,
      framebuffer: x1.framebuffer ?? null,
      framesPerSecond: (x1.frames - x0.frames) / elapsed,
      cpuMsPerFrame: x1.cpuMsPerFrame ?? null,
      cpuMsPerView: x1.cpuMsPerView ?? null,
      cpuMsSubmit: x1.cpuMsSubmit ?? null,
      drawCallsPerView: x1.drawCallsPerView ?? null,
      trianglesPerView: x1.trianglesPerView ?? null,
    };
    // stats().timings covers inline frames; during a session there may be none.
    result.timings = after.timings && after.timings.frames > 0 ? after.timings : null;
    result.fps = result.xr.framesPerSecond;
    result.drawCalls = result.xr.drawCallsPerView;
    result.triangles = result.xr.trianglesPerView;
    await page.evaluate(() => window.twinlens.xr?.exit?.()).catch(() => {});
    const errors = h.pageErrors(page);
    if (errors.length) result.notes.push(`page errors: ${errors.slice(0, 3).join(' | ').slice(0, 500)}`);
    result.ok = true;
  } catch (e) {
    result.error = `${e.message}`.slice(0, 2000);
    result.pageReport = h.pageReport(page).slice(-3000);
    log(`  xr/twinlens/${backend} failed: ${result.error.split('\n')[0]}`);
  } finally {
    await context.close().catch(() => {});
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Reporting.

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const fmtMs = (v) => (!isNum(v) ? 'n/a' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
const fmtInt = (v) => (!isNum(v) ? 'n/a' : Math.round(v).toLocaleString('en-US'));
const fmtBytes = (v) =>
  !isNum(v) ? 'n/a' : v >= 1e6 ? `${(v / 1e6).toFixed(2)} MB` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} kB` : `${v} B`;
const fmtPct = (v) => (!isNum(v) ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(2)} %`);
const fmtRate = (v) => (!isNum(v) ? 'n/a' : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k/s` : `${v.toFixed(1)}/s`);
const ratio = (a, b) => (isNum(a) && isNum(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '—');
const get = (obj, p) => p.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

const FIGURES = [
  ['first frame after navigation (ms)', 'firstFrameMs', fmtMs],
  ['whole model on the GPU (ms)', 'modelUploadedMs', fmtMs],
  ['frames drawn while uploading', 'modelUploadFrames', fmtInt],
  ['page ready (ms, wall clock from goto)', 'readyMs', fmtMs],
  ['CPU per frame p50 (ms)', 'timings.cpuMs.p50', fmtMs],
  ['CPU per frame p95 (ms)', 'timings.cpuMs.p95', fmtMs],
  ['· apply p50 / p95 (ms)', ['timings.applyMs.p50', 'timings.applyMs.p95'], fmtMs],
  ['· overlay p50 / p95 (ms)', ['timings.overlayMs.p50', 'timings.overlayMs.p95'], fmtMs],
  ['· encode p50 / p95 (ms)', ['timings.encodeMs.p50', 'timings.encodeMs.p95'], fmtMs],
  ['frame interval p50 (ms)', 'timings.intervalMs.p50', fmtMs],
  ['frame interval p95 (ms)', 'timings.intervalMs.p95', fmtMs],
  ['frames/s in the window', 'fps', (v) => (isNum(v) ? v.toFixed(1) : 'n/a')],
  ['timed frames', 'timings.frames', fmtInt],
  ['draw calls per view', 'drawCalls', fmtInt],
  ['triangles per view', 'triangles', fmtInt],
  ['largest tint upload', 'nodeUpload.maxBytes', fmtBytes],
  ['· its writes / parts tinted after it', ['nodeUpload.maxWrites', 'nodeUpload.maxTinted'], fmtInt],
  ['wasm memory at start', 'memoryStart.wasmBytes', fmtBytes],
  ['JS heap at start (after GC)', 'memoryStart.jsHeapBytes', fmtBytes],
  ['memory at end (wasm + JS)', 'memoryEnd.totalBytes', fmtBytes],
  ['memory growth over the window', 'memoryGrowthPct', fmtPct],
  ['memory growth after the history window filled', 'memoryGrowthAfterFillPct', fmtPct],
  ['samples received/s', 'feed.samplesPerSecond', fmtRate],
  ['samples applied per frame', 'feed.samplesPerFrame', fmtInt],
  ['apply per sample (µs, p50 ÷ samples per frame)', 'feed.applyUsPerSample', (v) => (isNum(v) ? v.toFixed(3) : 'n/a')],
  ['apply per frame at 60 frames/s (ms, estimate)', 'feed.applyMsAt60fps', fmtMs],
];
// Figures whose twinlens / three.js ratio means nothing (a ratio of percentages).
const NO_RATIO = new Set(['memoryGrowthPct', 'memoryGrowthAfterFillPct']);
// Figures listed for the 10k-sensor scenarios even when no case has them (n/a says why below).
const ALWAYS_FOR_FED = new Set(['memoryGrowthAfterFillPct']);

const fmtMin = (s) => `${(s / 60).toFixed(1)} min`;

/** The after-fill memory growth of a 10k-sensor case and words for it: `value` (percent or
 * null), `note` (why, over what), `timeline` (a one-line summary of the samples, or null). */
function afterFill(c) {
  const whole = `whole-window growth ${fmtPct(c.memoryGrowthPct)}`;
  const f = c.memoryFill;
  if (!f) {
    // A report saved before the timeline was recorded: only the wasm memory of its samples
    // (taken without GC; wasm memory never shrinks, so GC does not change it) says anything.
    let wasm = null;
    const samples = c.memorySamples || [];
    const t0 = c.memoryStart?.atMs;
    const fillS = DEFAULT_HISTORY_WINDOW_S + FILL_MARGIN_S;
    // The feed started before the window did: counting from the window's start is late, never early.
    const first = isNum(t0) ? samples.find((x) => x.atMs - t0 >= fillS * 1000 && isNum(x.wasmBytes)) : null;
    const end = c.memoryEnd;
    if (first && isNum(end?.wasmBytes) && end.atMs > first.atMs) {
      wasm = `its samples without GC put wasm memory at ${fmtBytes(first.wasmBytes)} ${Math.round((first.atMs - t0) / 1000)} s into the window and ${fmtBytes(end.wasmBytes)} at the end (${fmtPct(((end.wasmBytes - first.wasmBytes) / first.wasmBytes) * 100)} over ${fmtMin((end.atMs - first.atMs) / 1000)}), assuming a ${DEFAULT_HISTORY_WINDOW_S} s history window`;
    }
    return { value: null, note: `n/a: this report has no memory timeline (recorded before the after-fill measurement); ${whole}${wasm ? `; ${wasm}` : ''}`, timeline: null };
  }
  const tl = c.memoryTimeline || [];
  const at = (t) => tl.find((e) => e.t_s === t);
  const pt = (e) => (e ? `${fmtBytes(e.totalBytes)} at ${Math.round(e.t_s)} s` : null);
  const fillWords = `the ${f.historyWindowS} s history window filled`;
  const summary = tl.length
    ? `memory (wasm + JS heap after GC; ${tl.length} samples, every ${MEMORY_SAMPLE_S} s${isNum(f.spanS) ? ' and at the fill point' : ''}): ` +
      [pt(tl[0]), f.fromT_s !== null && f.fromT_s !== tl[tl.length - 1].t_s ? `${pt(at(f.fromT_s))} (${fillWords})` : null, pt(tl[tl.length - 1])].filter(Boolean).join(' → ') +
      (isNum(f.timelineStartAfterFeedS) ? `; the first reading came ${f.timelineStartAfterFeedS.toFixed(1)} s before 0 s (${f.feedStartFrom})` : '')
    : null;
  if (f.feedStartedAtMs === null) {
    return { value: null, note: `n/a: no readings seen, the history fill point is unknown; ${whole}`, timeline: summary };
  }
  if (!isNum(c.memoryGrowthAfterFillPct) || !isNum(f.spanS)) {
    return {
      value: null,
      note: `n/a: the soak (${Math.round(c.seconds)} s) ended before the history window filled (needs > ${f.needsSoakS} s: ${f.historyWindowS} s window + ${f.fillAfterFeedS - f.historyWindowS} s after the first reading, which came ${Math.round(f.timelineStartAfterFeedS)} s before the soak); ${whole}`,
      timeline: summary,
    };
  }
  return {
    value: c.memoryGrowthAfterFillPct,
    note: `wasm + JS heap after GC, ${Math.round(f.fromT_s)} s to ${Math.round(f.toT_s)} s of the window: over ${fmtMin(f.spanS)} after ${fillWords} (from ${f.fillAfterFeedS} s after the first reading); the budget is for 30 min; ${whole}`,
    timeline: summary,
  };
}

function cell(r, key, fmt) {
  if (!r) return '—';
  if (!r.ok) return 'failed';
  if (Array.isArray(key)) return key.map((k) => fmt(get(r, k))).join(' / ');
  return fmt(get(r, key));
}

function ratioCell(a, b, key) {
  if (!a?.ok || !b?.ok || NO_RATIO.has(key)) return '—';
  if (Array.isArray(key)) return key.map((k) => ratio(get(a, k), get(b, k))).join(' / ');
  return ratio(get(a, key), get(b, key));
}

/** The largest of twinlens's per-frame costs (p50), with "outside wasm" (browser, compositor,
 * GPU process waits) as interval − CPU. */
function largestCost(r) {
  const t = r?.timings;
  if (!r?.ok || !t || !isNum(t.cpuMs?.p50)) return null;
  const parts = {
    apply: t.applyMs?.p50,
    overlay: t.overlayMs?.p50,
    encode: t.encodeMs?.p50,
  };
  const named = Object.values(parts).filter(isNum).reduce((a, b) => a + b, 0);
  parts['other wasm work'] = Math.max(0, t.cpuMs.p50 - named);
  if (isNum(t.intervalMs?.p50)) parts['outside wasm (browser, raster, waiting for the next frame)'] = Math.max(0, t.intervalMs.p50 - t.cpuMs.p50);
  const [name, ms] = Object.entries(parts).filter(([, v]) => isNum(v)).sort((a, b) => b[1] - a[1])[0];
  const inWasm = Object.entries(parts).filter(([k, v]) => isNum(v) && !k.startsWith('outside')).sort((a, b) => b[1] - a[1])[0];
  return { name, ms, inWasm: inWasm ? { name: inWasm[0], ms: inWasm[1] } : null };
}

/** Every budget with its measured value. `op` is how value and limit compare (`<` or `≤`); a
 * `limit` of null is a figure reported without a budget (verdict "—"). The plant-scale target's
 * rows are listed whether or not their scenario ran (n/a, "not in this run"). */
function evaluateBudgets(report) {
  const out = [];
  const add = (name, value, limit, unit, note, op = '<') =>
    out.push({
      name,
      value: isNum(value) ? value : null,
      limit,
      unit,
      op,
      pass: !isNum(value) || limit === null ? null : op === '≤' ? value <= limit : value < limit,
      note: note ?? null,
    });
  const find = (scenario, impl, backend) => report.cases.find((c) => c.scenario === scenario && c.impl === impl && c.backend === backend);
  // Why a row has no value: the case is missing or failed (null when it ran).
  const missing = (c) => (!c ? 'not in this run' : !c.ok ? `case failed: ${String(c.error ?? '').split('\n')[0].slice(0, 120)}` : null);
  const ran = (scenario) => report.cases.some((c) => c.scenario === scenario);
  const secs = (c) => (c?.ok && isNum(c.seconds) ? `${Math.round(c.seconds)} s run` : null);
  const join = (...parts) => parts.filter(Boolean).join('; ') || null;
  const feedEstimate = (c) => {
    const at60 = get(c, 'feed.applyMsAt60fps');
    return isNum(at60) && isNum(get(c, 'fps')) && c.fps < 30
      ? `at ${c.fps.toFixed(1)} frames/s each frame applies ${fmtInt(get(c, 'feed.samplesPerFrame'))} samples, at 60 frames/s apply would be about ${fmtMs(at60)} ms`
      : null;
  };
  // twinlens / three.js of one figure, same scenario and backend in this run.
  const vsThree = (scenario, b, key, fmt, what) => {
    const t = find(scenario, 'twinlens', b);
    const r = find(scenario, 'threejs', b);
    const x = get(t, key);
    const y = get(r, key);
    const value = t?.ok && r?.ok && isNum(x) && isNum(y) && y !== 0 ? x / y : null;
    const why = missing(t) ?? (missing(r) && `three.js ${missing(r)}`) ?? (value === null ? `${what} n/a` : null);
    return { value, note: (how) => why ?? `${how}: twinlens ${fmt(x)} / three.js ${fmt(y)}` };
  };

  for (const b of opts.backends) {
    const demo = find('demo', 'twinlens', b);
    if (demo) {
      add(`demo ${b}: wasm CPU per frame p95`, demo.ok ? get(demo, 'timings.cpuMs.p95') : null, 2, 'ms');
      add(`demo ${b}: first frame`, demo.ok ? demo.firstFrameMs : null, 1500, 'ms', 'localhost');
    }
  }
  const app = report.transfer?.twinlens?.app;
  if (app) add('transfer: wasm + JS, gzip', app.gzip, 1_000_000, 'bytes', '1 MB = 1,000,000 bytes');

  // Plant-scale target. 1. Draw calls per view: inline on each backend, and per XR eye.
  for (const id of ASSEMBLY_SCENARIOS) {
    for (const b of opts.backends) {
      const c = find(id, 'twinlens', b);
      if (c || id === 'assembly100k') {
        add(`${id} ${b}: draw calls per view`, c?.ok ? c.drawCalls : null, 16, 'draws',
          join('stats().drawCalls of the last frame, inline; parts batched, not drawn one by one', missing(c)), '≤');
      }
    }
  }
  {
    const xrCases = report.xr?.cases || [];
    const onAssembly = xrCases.filter((c) => /assembly/.test(c.url ?? ''));
    if (onAssembly.length) {
      for (const c of onAssembly) {
        add(`assembly XR ${c.backend}: draw calls per eye`, c.ok ? get(c, 'xr.drawCallsPerView') : null, 16, 'draws',
          join(`stats().xr.drawCallsPerView, ${fmtInt(get(c, 'xr.views'))} views`, missing(c)), '≤');
      }
    } else {
      const why = !report.xr
        ? 'the xr scenario is not in this run'
        : !report.xr.available
          ? report.xr.status
          : 'the xr scenario runs the demo twin, not an assembly: no per-eye figure for 100,000 parts here (tests/browser/assembly.test.mjs checks it)';
      add('assembly XR: draw calls per eye', null, 16, 'draws', why, '≤');
    }
  }
  // 2. wasm CPU per frame on WebGL2, static assemblies.
  for (const [id, limit] of [['assembly10k', 2], ['assembly100k', 4]]) {
    const c = find(id, 'twinlens', 'webgl');
    if (!opts.backends.includes('webgl') && !c) continue;
    add(`${id} webgl: wasm CPU per frame p95`, c?.ok ? get(c, 'timings.cpuMs.p95') : null, limit, 'ms',
      join('stats().timings.cpuMs.p95 over the window (drain, update, encode)', secs(c), missing(c)), '≤');
  }
  // 3. 10,000 sensors at 100,000 samples/s: apply + overlay per frame.
  for (const [id, label] of [['live', '10k sensors'], ['assemblyLive', 'assemblyLive']]) {
    for (const b of opts.backends) {
      const c = find(id, 'twinlens', b);
      const a = get(c, 'timings.applyMs.p95');
      const o = get(c, 'timings.overlayMs.p95');
      add(`${label} ${b}: apply + overlay p95`, c?.ok && isNum(a) && isNum(o) ? a + o : null, 2, 'ms',
        join('sum of the two p95s (an upper bound of the p95 of the sum)', feedEstimate(c), missing(c)), '≤');
    }
  }
  // 4. Recolouring: the largest single tint upload.
  for (const b of opts.backends) {
    const c = find('assemblyLive', 'twinlens', b);
    const up = c?.nodeUpload;
    const what = up
      ? `stats().nodeUpload.maxBytes, the largest single tint change since load: ${fmtInt(up.maxWrites)} writes, ${fmtInt(up.maxTinted)} parts tinted after it`
      : c?.ok ? 'stats().nodeUpload not exposed' : null;
    add(`assemblyLive ${b}: largest tint upload`, c?.ok ? up?.maxBytes : null, 320_000, 'bytes',
      join('320 kB for 10,000 recoloured parts (32 bytes each)', what, missing(c)), '≤');
  }
  // 5. Memory at the end, against the three.js reference.
  for (const id of ['plant', 'assembly10k', 'assembly100k']) {
    if (id === 'assembly100k' && !ran(id)) continue;
    for (const b of opts.backends) {
      const v = vsThree(id, b, 'memoryEnd.totalBytes', fmtBytes, 'memory');
      add(`${id} ${b}: memory at end / three.js`, v.value, 1.2, '×', v.note('wasm memory + JS heap after GC at the end of the window'), '≤');
    }
  }
  // 6. Frame interval, against the three.js reference.
  for (const id of ['plant', 'live', 'assembly10k']) {
    for (const b of opts.backends) {
      const v = vsThree(id, b, 'timings.intervalMs.p50', (x) => `${fmtMs(x)} ms`, 'frame interval');
      // An interval p50 far below 1000 / frames/s means frames came in bursts (rendered on
      // change, not continuously): the ratio then says little.
      const bursty = ['twinlens', 'threejs']
        .map((impl) => find(id, impl, b))
        .filter((c) => c?.ok && isNum(c.fps) && c.fps > 0 && isNum(get(c, 'timings.intervalMs.p50')) && get(c, 'timings.intervalMs.p50') < 500 / c.fps)
        .map((c) => `${c.impl}'s p50 is far below 1000 ÷ ${c.fps.toFixed(1)} frames/s (${fmtInt(get(c, 'timings.frames'))} timed frames): frames came in bursts, the ratio says little`);
      const frames = v.value === null ? null : `timed frames ${fmtInt(get(find(id, 'twinlens', b), 'timings.frames'))} / ${fmtInt(get(find(id, 'threejs', b), 'timings.frames'))}`;
      add(`${id === 'live' ? '10k sensors' : id} ${b}: frame interval p50 / three.js`, v.value, 0.5, '×',
        join(v.note('timings.intervalMs.p50, same run and flags'), frames, ...bursty), '≤');
    }
  }
  // 7. Memory growth over the 10k-sensor windows, once the sensor history window has filled
  // (the whole-window figure includes the history filling up).
  for (const [id, label] of [['live', '10k sensors'], ['assemblyLive', 'assemblyLive']]) {
    for (const b of opts.backends) {
      const c = find(id, 'twinlens', b);
      const a = c?.ok ? afterFill(c) : null;
      add(`${label} ${b}: memory growth`, a ? a.value : null, 1, '%',
        a ? a.note : join('wasm + JS heap after GC, after the history window has filled; the budget is for 30 min', missing(c)));
    }
  }
  // 8. Time to the first frame at 100,000 parts: reported, no limit.
  for (const b of opts.backends) {
    const c = find('assembly100k', 'twinlens', b);
    const upload = c?.ok && isNum(c.modelUploadedMs)
      ? `whole model on the GPU at ${fmtMs(c.modelUploadedMs)} ms after ${fmtInt(c.modelUploadFrames)} frames drawing part of it`
      : c?.ok ? 'stats().modelUploadedMs n/a' : null;
    add(`assembly100k ${b}: first frame`, c?.ok ? c.firstFrameMs : null, null, 'ms',
      join('from navigation, localhost', upload, missing(c)));
  }
  return out;
}

function fmtBudgetValue(b) {
  if (b.value === null) return 'n/a';
  if (b.unit === 'draws') return fmtInt(b.value);
  if (b.unit === 'bytes') return fmtBytes(b.value);
  if (b.unit === '%') return fmtPct(b.value);
  if (b.unit === '×') return `${b.value.toFixed(2)}×`;
  return `${fmtMs(b.value)} ${b.unit}`;
}
const fmtLimit = (b) =>
  b.limit === null
    ? 'report'
    : `${b.op ?? '<'} ${b.unit === 'bytes' ? fmtBytes(b.limit) : b.unit === 'draws' ? `${b.limit} draws` : b.unit === '×' ? `${b.limit}×` : `${b.limit} ${b.unit}`}`;
const verdict = (b) => (b.limit === null ? '—' : b.pass === null ? 'n/a' : b.pass ? 'PASS' : 'MISS');

function markdown(report) {
  const L = [];
  const m = report.machine;
  L.push(`# twinlens benchmark ${report.startedAt}`);
  L.push('');
  const assemblyLiveS = D.assemblyLiveS ?? D.plantS;
  L.push(`Mode: **${report.mode}** (warm-up ${D.warmupS} s; demo ${D.demoS} s, plant ${D.plantS} s, 10k-sensor run ${D.soakS} s per case${assemblyLiveS !== D.soakS && report.cases.some((c) => c.scenario === 'assemblyLive') ? `, assemblyLive ${assemblyLiveS} s` : ''}).`);
  L.push('');
  L.push('| | |');
  L.push('|---|---|');
  L.push(`| machine | ${m.cpu}, ${m.cores} cores, ${(m.ramBytes / 2 ** 30).toFixed(1)} GiB RAM |`);
  L.push(`| OS | ${m.os} |`);
  L.push(`| browser | ${report.chromium ?? 'n/a'} (headless, flags as tests/browser/harness.mjs + --enable-precise-memory-info) |`);
  if (report.gpu) {
    const g = report.gpu;
    L.push(`| GPU | WebGPU: ${g.webgpu ? `${g.webgpu.vendor} ${g.webgpu.architecture}`.trim() : `none (${g.webgpuError ?? 'no adapter'})`}; WebGL2: ${g.webgl2?.renderer ?? 'none'} |`);
  }
  L.push(`| node | ${m.node} |`);
  L.push(`| three.js | ${m.three ?? 'not installed'} |`);
  L.push(`| git | ${m.git.commit ?? 'n/a'}${m.git.dirty ? ' (with uncommitted changes)' : ''} |`);
  L.push(`| viewport | ${opts.viewport.width}×${opts.viewport.height} CSS px at devicePixelRatio 1 |`);
  L.push('');
  L.push('SwiftShader (when shown above) is a CPU rasteriser: frame intervals say little about a real GPU; compare ratios within one run, and the wasm CPU figures, which do not depend on the GPU.');
  L.push('');

  // Budgets.
  L.push('## Budgets');
  L.push('');
  L.push('| budget | value | limit | verdict | note |');
  L.push('|---|---|---|---|---|');
  for (const b of report.budgets) L.push(`| ${b.name} | ${fmtBudgetValue(b)} | ${fmtLimit(b)} | ${verdict(b)} | ${b.note ?? ''} |`);
  L.push('');

  // Transfer.
  const t = report.transfer;
  if (t) {
    L.push('## Transfer size');
    L.push('');
    L.push('| what | raw | gzip | brotli |');
    L.push('|---|---|---|---|');
    const row = (name, s) => L.push(`| ${name} | ${fmtBytes(s?.raw)} | ${fmtBytes(s?.gzip)} | ${fmtBytes(s?.brotli)} |`);
    row('twinlens wasm', t.twinlens.wasm);
    row('twinlens JS', t.twinlens.js);
    row('**twinlens wasm + JS**', t.twinlens.app);
    row('twinlens default assets (HTML, CSS, demo model + manifest)', t.twinlens.assets);
    for (const [b, s] of Object.entries(t.threejs || {})) {
      row(`three.js reference JS (${b}: ${s.files.length} modules)`, s.total);
    }
    if (t.threejs) {
      for (const [b, s] of Object.entries(t.threejs)) {
        L.push(`| ratio twinlens / three.js (${b}, wasm + JS) | ${ratio(t.twinlens.app.raw, s.total.raw)} | ${ratio(t.twinlens.app.gzip, s.total.gzip)} | ${ratio(t.twinlens.app.brotli, s.total.brotli)} |`);
      }
    }
    L.push('');
  }

  // Scenarios.
  const find = (scenario, impl, backend) => report.cases.find((c) => c.scenario === scenario && c.impl === impl && c.backend === backend);
  for (const [id, sc] of Object.entries(SCENARIOS)) {
    const cases = report.cases.filter((c) => c.scenario === id);
    if (!cases.length) continue;
    L.push(`## ${sc.title}`);
    L.push('');
    const cols = [];
    for (const b of opts.backends) {
      cols.push({ head: `twinlens ${b}`, r: find(id, 'twinlens', b) });
      if (opts.impls.includes('threejs')) {
        cols.push({ head: `three.js ${b}`, r: find(id, 'threejs', b) });
        cols.push({ head: 'ratio', ratio: [find(id, 'twinlens', b), find(id, 'threejs', b)] });
      }
    }
    L.push(`| figure | ${cols.map((c) => c.head).join(' | ')} |`);
    L.push(`|---|${cols.map(() => '---').join('|')}|`);
    for (const [label, key, fmt] of FIGURES) {
      const cells = cols.map((c) => (c.ratio ? ratioCell(c.ratio[0], c.ratio[1], key) : cell(c.r, key, fmt)));
      const always = sc.heavyFeed && ALWAYS_FOR_FED.has(key);
      if (!always && cells.every((x) => x === 'n/a' || x === '—' || x === 'n/a / n/a' || x === '— / —')) continue;
      L.push(`| ${label} | ${cells.join(' | ')} |`);
    }
    L.push('');
    for (const c of cases) {
      const lc = c.impl === 'twinlens' ? largestCost(c) : null;
      if (lc) {
        L.push(`- largest cost, twinlens ${c.backend}: **${lc.name}** (${fmtMs(lc.ms)} ms p50)${lc.inWasm && lc.inWasm.name !== lc.name ? `; inside wasm: ${lc.inWasm.name} (${fmtMs(lc.inWasm.ms)} ms p50)` : ''}`);
      } else if (c.impl === 'twinlens' && c.ok) {
        L.push(`- largest cost, twinlens ${c.backend}: n/a (stats().timings not exposed)`);
      }
    }
    for (const c of cases) {
      const label = `${c.impl} ${c.backend}`;
      if (!c.ok) L.push(`- ${label}: **failed**: ${String(c.error).split('\n')[0]}`);
      for (const n of c.notes || []) L.push(`- ${label}: ${n}`);
      if (sc.heavyFeed && c.ok) {
        const a = afterFill(c);
        if (a.timeline) L.push(`- ${label}: ${a.timeline}`);
        L.push(`- ${label}: memory growth after the history window filled: ${a.value === null ? a.note : `${fmtPct(a.value)}, ${a.note}`}`);
      }
      if (c.renderer) L.push(`- ${label}: renderer ${c.renderer}${c.instancedMeshes ? `, ${c.instancedMeshes} InstancedMesh` : ''}${c.batchedMeshes ? `, ${c.batchedMeshes} BatchedMesh (one per material)` : ''}${c.labels ? `, ${c.labels} CSS2D labels` : ''}`);
      else if (c.ok && isNum(c.labels) && c.labels > 0) {
        L.push(`- ${label}: ${c.labels} labels: ${fmtInt(c.labelsFull)} shown full, ${fmtInt(c.labelsMarkers)} as markers (decluttered)${isNum(c.labelsDrawn) ? `, ${c.labelsDrawn} drawn` : ''}`);
      }
    }
    L.push('');
  }

  // XR.
  if (report.xr) {
    L.push('## Immersive session (WebXR emulator)');
    L.push('');
    L.push(`${report.xr.status}.`);
    L.push('');
    const cases = report.xr.cases || [];
    if (cases.length) {
      const XR_FIGURES = [
        ['XR frames/s', 'xr.framesPerSecond', (v) => (isNum(v) ? v.toFixed(1) : 'n/a')],
        ['wasm CPU per XR frame (ms, mean of 60)', 'xr.cpuMsPerFrame', fmtMs],
        ['· per view (ms)', 'xr.cpuMsPerView', fmtMs],
        ['· submit (ms)', 'xr.cpuMsSubmit', fmtMs],
        ['CPU per frame p50 / p95 (stats().timings, ms)', ['timings.cpuMs.p50', 'timings.cpuMs.p95'], fmtMs],
        ['views', 'xr.views', fmtInt],
        ['draw calls per view', 'xr.drawCallsPerView', fmtInt],
        ['triangles per view', 'xr.trianglesPerView', fmtInt],
        ['framebuffer', 'xr.framebuffer', (v) => (Array.isArray(v) ? `${v[0]}×${v[1]}` : 'n/a')],
        ['path / renderer', ['xr.path', 'xr.renderer'], (v) => v ?? 'n/a'],
      ];
      L.push(`| figure | ${cases.map((c) => `twinlens ${c.backend} page`).join(' | ')} |`);
      L.push(`|---|${cases.map(() => '---').join('|')}|`);
      for (const [label, key, fmt] of XR_FIGURES) L.push(`| ${label} | ${cases.map((c) => cell(c, key, fmt)).join(' | ')} |`);
      L.push('');
      for (const c of cases) {
        if (!c.ok) L.push(`- ${c.backend}: **failed**: ${String(c.error).split('\n')[0]}`);
        for (const n of c.notes || []) L.push(`- ${c.backend}: ${n}`);
      }
      L.push('');
    }
  }

  // Host.
  if (report.host) {
    L.push('## Host benchmarks (criterion, benches/core.rs)');
    L.push('');
    if (!report.host.ok) L.push(`cargo bench failed (exit ${report.host.exitCode}); see the JSON for its output.`);
    if (report.host.results.length) {
      L.push('| benchmark | mean | median | throughput |');
      L.push('|---|---|---|---|');
      const t = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
      for (const r of report.host.results) {
        const tp = r.elementsPerSecond ? `${fmtRate(r.elementsPerSecond)}${/telemetry/.test(r.id) ? ' samples' : /layout/.test(r.id) ? ' labels' : ''}` : r.bytesPerSecond ? `${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s` : '';
        L.push(`| ${r.id} | ${t(r.meanNs)} | ${t(r.medianNs)} | ${tp} |`);
      }
      L.push('');
      L.push(`Command: \`${report.host.command}\` (release profile: opt-level "z", LTO, as the shipped wasm).`);
    }
    L.push('');
  }
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main.

async function main() {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const report = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    options: { ...opts, outDir: rel(opts.outDir) },
    machine: machineInfo(),
    chromium: null,
    gpu: null,
    transfer: null,
    cases: [],
    xr: null,
    host: null,
    budgets: [],
  };
  log(`${report.mode} run; results go to ${rel(opts.outDir)}/${stamp}.{json,md}`);

  // Generated plant (deterministic; rebuilt every run so it matches the generator).
  const gen = path.join(ROOT, 'bench', 'generated');
  log('generating the scaled plant into bench/generated');
  execFileSync(h.twinlensBin(), ['gen-bench-plant', '--out-dir', gen], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  // CAD assemblies, only those the chosen scenarios need (the 100,000-part one is ~230 MB).
  const genAssembly = (args) => execFileSync(h.twinlensBin(), ['gen-assembly', ...args], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  for (const f of ['assembly-10k-live.twin.json', 'assembly-100k.twin.json']) fs.rmSync(path.join(gen, f), { force: true });
  if (opts.only.includes('assembly10k') || opts.only.includes('assemblyLive')) {
    log('generating the 10,000-part CAD assembly (10,000 sensors) into bench/generated');
    genAssembly(['--parts', '10000', '--out', path.join(gen, 'assembly-10k.glb'), '--sensors', '10000',
      '--manifest-out', path.join(gen, 'assembly-10k-live.twin.json'), '--feed-url', 'ws://127.0.0.1:9/']);
  }
  if (opts.only.includes('assembly100k')) {
    log('generating the 100,000-part CAD assembly into bench/generated');
    genAssembly(['--parts', '100000', '--out', path.join(gen, 'assembly-100k.glb'), '--manifest-out', path.join(gen, 'assembly-100k.twin.json')]);
  }

  // The app as built now, and its transfer sizes.
  const site = snapshotDist();
  report.transfer = { twinlens: distTransfer(site) };

  let feed = null;
  let assemblyFeed = null;
  let server = null;
  let browser = null;
  try {
    // Host benchmarks first, alone on the CPU.
    if (opts.criterion) report.host = await runCriterion();

    // Feed, server, browser.
    if (opts.only.includes('live')) {
      feed = await startFeed({ ids: sensorIds(path.join(gen, 'plant-10k.twin.json')), hz: 10, batch: 1000 });
      log(`feed: ${feed.url} (${feed.stats().sensors} sensors at 10 Hz, 1,000 readings a frame)`);
    }
    if (opts.only.includes('assemblyLive')) {
      assemblyFeed = await startFeed({ ids: sensorIds(path.join(gen, 'assembly-10k-live.twin.json')), hz: 10, batch: 1000, seed: 2 });
      log(`assembly feed: ${assemblyFeed.url} (${assemblyFeed.stats().sensors} sensors at 10 Hz, 1,000 readings a frame)`);
    }
    prepareSite(site, feed ? feed.url : 'ws://127.0.0.1:9/', assemblyFeed ? assemblyFeed.url : 'ws://127.0.0.1:9/');
    process.env.TWINLENS_DIST = site;
    server = await h.startServer();
    log(`server: ${server.url} (serving ${site})`);
    browser = await (await import('playwright-core')).chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [...h.CHROMIUM_ARGS, '--enable-precise-memory-info'],
      timeout: 60_000,
    });
    report.chromium = `Chromium ${browser.version()}`;
    {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      report.gpu = await h.probeGpu(p, server.url).catch((e) => ({ error: String(e) }));
      await ctx.close();
    }

    const scenarios = opts.only.filter((s) => SCENARIOS[s]);
    for (const scenario of scenarios) {
      for (const backend of opts.backends) {
        for (const impl of opts.impls) {
          log(`${scenario} / ${impl} / ${backend} …`);
          const r = await runCase(browser, server.url, scenario, impl, backend);
          report.cases.push(r);
          if (r.ok) {
            log(
              `  ok: first frame ${fmtMs(r.firstFrameMs)} ms, cpu p95 ${fmtMs(get(r, 'timings.cpuMs.p95'))} ms, ` +
                `interval p50 ${fmtMs(get(r, 'timings.intervalMs.p50'))} ms, ${isNum(r.fps) ? r.fps.toFixed(1) : 'n/a'} frames/s, ` +
                `${fmtInt(r.drawCalls)} draws, ${fmtInt(r.triangles)} triangles`,
            );
          }
        }
      }
    }

    // 4. Immersive session: only once the app exposes window.twinlens.xr.
    if (opts.only.includes('xr')) {
      const demoCase = report.cases.find((c) => c.scenario === 'demo' && c.impl === 'twinlens' && c.ok);
      let hasXr = demoCase ? demoCase.hasXr : null;
      if (hasXr === null) {
        const ctx = await browser.newContext({ viewport: opts.viewport });
        const p = await ctx.newPage();
        try {
          await p.goto(server.url, { waitUntil: 'load', timeout: 60_000 });
          await p.waitForFunction(() => window.twinlens && typeof window.twinlens.stats === 'function', null, { timeout: 60_000 });
          hasXr = await p.evaluate(() => window.twinlens.xr !== undefined && window.twinlens.xr !== null);
        } catch {
          hasXr = false;
        }
        await ctx.close();
      }
      if (hasXr) {
        report.xr = { available: true, status: 'immersive-vr on an emulated Meta Quest 3 (IWER), stereo, demo twin with its feed', cases: [] };
        for (const backend of opts.backends) {
          log(`xr / twinlens / ${backend} …`);
          const r = await runXrCase(browser, server.url, backend);
          report.xr.cases.push(r);
          if (r.ok) log(`  ok: ${r.xr.framesPerSecond.toFixed(1)} XR frames/s, ${fmtMs(r.xr.cpuMsPerFrame)} ms wasm CPU per XR frame, ${fmtInt(r.xr.drawCallsPerView)} draws per view`);
        }
      } else {
        report.xr = { available: false, status: 'not available: XR not landed (window.twinlens.xr is missing)' };
      }
    }
  } finally {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    if (feed) {
      report.feed = feed.stats();
      await feed.close();
    }
    if (assemblyFeed) {
      report.assemblyFeed = assemblyFeed.stats();
      await assemblyFeed.close();
    }
    if (opts.keepTemp) log(`kept ${site}`);
    else fs.rmSync(site, { recursive: true, force: true });
  }

  // Transfer of the three.js reference: the modules its pages fetched, compressed here.
  const threeTransfer = {};
  for (const b of opts.backends) {
    const c = report.cases.find((x) => x.impl === 'threejs' && x.backend === b && x.scriptsFetched?.length);
    if (!c) continue;
    const files = c.scriptsFetched
      .map((p) => {
        const local = p.startsWith('/bench/three/')
          ? path.join(ROOT, 'node_modules', 'three', p.slice('/bench/three/'.length))
          : p.startsWith('/bench/threejs/')
            ? path.join(ROOT, 'bench', 'threejs', p.slice('/bench/threejs/'.length))
            : null;
        if (!local || !fs.existsSync(local)) return null;
        return { name: p, ...sizes(fs.readFileSync(local)) };
      })
      .filter(Boolean);
    threeTransfer[b] = { files, total: addSizes(files) };
  }
  if (Object.keys(threeTransfer).length) report.transfer.threejs = threeTransfer;

  report.finishedAt = new Date().toISOString();
  report.budgets = evaluateBudgets(report);
  report.largestCosts = report.cases
    .filter((c) => c.impl === 'twinlens')
    .map((c) => ({ scenario: c.scenario, backend: c.backend, largest: largestCost(c) }));

  fs.mkdirSync(opts.outDir, { recursive: true });
  const jsonPath = path.join(opts.outDir, `${stamp}.json`);
  const mdPath = path.join(opts.outDir, `${stamp}.md`);
  const md = markdown(report);
  fs.writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(mdPath, md + '\n');

  console.log('');
  console.log(md);
  console.log('');
  console.log('Budgets:');
  for (const b of report.budgets) {
    console.log(`  ${verdict(b).padEnd(4)}  ${b.name}: ${fmtBudgetValue(b)} (limit ${fmtLimit(b)})${b.note ? `  [${b.note}]` : ''}`);
  }
  console.log('Largest cost per scenario (twinlens):');
  for (const l of report.largestCosts) {
    const w = l.largest?.inWasm;
    const inWasm = w && w.name !== l.largest.name ? `; inside wasm: ${w.name} (${fmtMs(w.ms)} ms p50)` : '';
    console.log(`  ${l.scenario} ${l.backend}: ${l.largest ? `${l.largest.name} (${fmtMs(l.largest.ms)} ms p50)${inWasm}` : 'n/a (no timings)'}`);
  }
  console.log(`\nbench: wrote ${rel(jsonPath)} and ${rel(mdPath)}`);

  const measured = report.cases.some((c) => c.ok) || (report.host && report.host.results.length > 0);
  return measured ? 0 : 1;
}

/** `--render results/X.json`: write X.md again from a saved report (after a report change). */
function renderSaved(file) {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  const o = report.options || {};
  for (const k of ['backends', 'impls', 'viewport', 'only']) if (o[k]) opts[k] = o[k];
  if (o.durations) Object.assign(D, o.durations);
  // Reports saved before --soak-seconds applied to assemblyLive measured it for the plant window.
  if (o.durations && o.durations.assemblyLiveS === undefined) D.assemblyLiveS = D.plantS;
  // Budgets are evaluated again from the saved cases with the rules as they are now (the JSON
  // itself is not rewritten and keeps the verdicts of its run).
  report.budgets = evaluateBudgets(report);
  const md = markdown(report);
  const out = file.replace(/\.json$/, '.md');
  fs.writeFileSync(out, md + '\n');
  console.log(md);
  console.log(`\nbench: wrote ${rel(out)}`);
  return 0;
}

(opts.render ? Promise.resolve().then(() => renderSaved(opts.render)) : main())
  .then((code) => {
    clearTimeout(watchdog);
    process.exit(code);
  })
  .catch((e) => {
    console.error(`bench: the harness failed: ${e.stack || e}`);
    process.exit(1);
  });
