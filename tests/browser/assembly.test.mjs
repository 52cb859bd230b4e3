// A CAD-like assembly in headless Chromium (SwiftShader): 10,000 parts from `twinlens
// gen-assembly`, each its own node and mesh, load on both backends with every node and
// triangle, are drawn in a handful of draw calls inline and per eye in an emulated VR session
// (IWER, Quest 3), a controller ray still selects a part, and live values still tint parts and
// a click on a tinted part still opens its sensor.
// Run: npm run test:browser (needs `trunk build` into dist/ and `cargo build -p twinlens-cli`;
// see harness.mjs for TWINLENS_BIN, TWINLENS_DIST, TWINLENS_URL, CHROMIUM).
//
// The CLI writes the assembly into a temporary folder; the pages get it through request
// interception on the app's own origin (fixtures/assembly/…), as loading.test.mjs serves its
// fixtures, so nothing is written into the served folder.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import * as h from './harness.mjs';

const PARTS = 10_000;
const TINT_SENSORS = 100; // on every 100th part
const ZOOM_STEPS = 5; // mouse-wheel notches towards the model before the tint pictures
const LABEL_LIFT_M = 10; // labels (markers, at this distance) stand clear of their parts
const MAX_DRAW_CALLS = 16; // per view, model and overlay together
// SwiftShader draws 10,000 separate meshes slowly: loading alone took about 30 s here.
const LOAD_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT = 420_000;
const BACKENDS = ['webgpu', 'webgl'];
const MAGENTA = [1, 0, 1]; // the tint colour: no material, label or marker uses it
const PART_NAME = /^U\d{2}\/S\d{2}\/P\d{4}$/;

const ART = 'assembly-';
const save = (name, buf) => h.saveArtifact(ART + name, buf);
const app = h.useServerAndBrowser({ artifacts: ART });

let gen; // the CLI's summary of the generated assembly
let files; // fixture name -> Buffer
let subUnits; // [{ name, centre: [x, y, z] }] in model space, from the file's own nodes
let feed;
let tmp;

function cli(args) {
  return new Promise((resolve, reject) =>
    execFile(h.twinlensBin(), args, { cwd: h.REPO_ROOT, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`twinlens ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(String(stdout)),
    ),
  );
}

/** Sub-unit centres from the GLB's node list (root and units carry translations only). */
function readSubUnits(glb) {
  const doc = JSON.parse(glb.subarray(20, 20 + glb.readUInt32LE(12)).toString('utf8'));
  const t = (n) => n.translation ?? [0, 0, 0];
  const root = doc.nodes[0];
  const out = [];
  for (const u of root.children) {
    const unit = doc.nodes[u];
    for (const s of unit.children) {
      const sub = doc.nodes[s];
      out.push({ name: sub.name, centre: [0, 1, 2].map((k) => t(root)[k] + t(unit)[k] + t(sub)[k]) });
    }
  }
  return out;
}

/** A JSON source on loopback: every connected page gets the last `send`. */
function startFeed() {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    let last = null;
    wss.on('connection', (ws) => last && ws.send(last));
    // Forget the last frame, so the next page starts without readings.
    const reset = () => {
      last = null;
    };
    wss.on('listening', () =>
      resolve({
        port: wss.address().port,
        send(readings) {
          const t = Date.now();
          last = JSON.stringify({ readings: readings.map(([id, v]) => ({ id, v, t })) });
          for (const ws of wss.clients) ws.send(last);
        },
        reset,
        close: () =>
          new Promise((r) => {
            for (const ws of wss.clients) ws.terminate();
            wss.close(() => r());
          }),
      }),
    );
  });
}

before(
  async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'twinlens-assembly-'));
    const glbPath = path.join(tmp, 'assembly.glb');
    const manifestPath = path.join(tmp, 'assembly.twin.json');
    const started = Date.now();
    gen = JSON.parse(
      await cli(['gen-assembly', '--parts', String(PARTS), '--out', glbPath, '--sensors', String(TINT_SENSORS), '--manifest-out', manifestPath, '--json']),
    );
    console.log(`gen-assembly: ${gen.parts} parts, ${gen.nodes} nodes, ${gen.triangles} triangles, ${gen.bytes} bytes in ${Date.now() - started} ms`);
    feed = await startFeed();
    // The generated manifest, fed from loopback, every sensor painting its part magenta.
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    manifest.model.url = '/fixtures/assembly/assembly.glb';
    manifest.source = {
      url: `ws://127.0.0.1:${feed.port}/`,
      adapter: 'json',
      payload: { readings: '/readings', id: '/id', value: '/v', timestamp: '/t' },
    };
    for (const s of manifest.sensors) {
      s.maxAgeSeconds = 3600;
      s.display = {
        coloring: 'replace',
        ramp: [{ at: 0, color: MAGENTA }, { at: 100, color: MAGENTA }],
        labelOffset: [0, LABEL_LIFT_M, 0],
      };
    }
    const glb = fs.readFileSync(glbPath);
    subUnits = readSubUnits(glb);
    files = { 'assembly.glb': glb, 'assembly.twin.json': Buffer.from(JSON.stringify(manifest)) };
  },
  { timeout: 150_000 },
);

after(
  async () => {
    for (const p of pages.values()) await (await p.catch(() => null))?.page.context().close().catch(() => {});
    await feed?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  },
  { timeout: 60_000 },
);

/** A fresh page whose fixtures/assembly/<name> requests answer from the generated files. */
async function newAssemblyPage({ quest = false } = {}) {
  const page = await h.newPage(app.browser);
  page.setDefaultTimeout(60_000);
  await page.route(`${app.server.url}fixtures/assembly/**`, (route) => {
    const body = files[new URL(route.request().url()).pathname.replace(/^\/fixtures\/assembly\//, '')];
    return body ? route.fulfill({ status: 200, body }) : route.fulfill({ status: 404, body: 'not found' });
  });
  if (quest) {
    // IWER before the app starts (it checks navigator.xr at start), as xr.test.mjs does.
    await page.addInitScript({ path: path.join(h.REPO_ROOT, 'node_modules', 'iwer', 'build', 'iwer.js') });
    await page.addInitScript(() => {
      const { XRDevice, metaQuest3 } = window.IWER;
      const device = new XRDevice(metaQuest3, { stereoEnabled: true });
      device.installRuntime({ forceInstall: true });
      window.__iwer = { device };
    });
  }
  return page;
}

/** Runs `fn`; on failure keeps a screenshot and appends the page's console and errors. */
async function reporting(page, name, fn) {
  try {
    return await fn();
  } catch (e) {
    try {
      save(`${name}-failure.png`, await page.screenshot({ timeout: 10_000, caret: 'initial' }));
    } catch {
      // no screenshot to be had
    }
    throw h.withPageReport(e, page);
  }
}

// One bare-model page per backend (with an emulated Quest 3), shared by its tests in order.
const pages = new Map();
function assemblyPage(backend) {
  if (!pages.has(backend)) {
    pages.set(
      backend,
      (async () => {
        const page = await newAssemblyPage({ quest: true });
        const started = Date.now();
        const opened = await h.openTwin(page, app.server.url, `backend=${backend}&model=fixtures/assembly/assembly.glb`, {
          timeoutMs: LOAD_TIMEOUT_MS,
        });
        return { page, opened, loadMs: Date.now() - started };
      })(),
    );
  }
  return pages.get(backend);
}

const xr = async (page) => (await h.stats(page)).xr;
const waitXr = (page, pred, what, timeoutMs = 120_000) =>
  h.waitForStats(page, (s) => s.xr && pred(s.xr), { timeoutMs, what }).then((s) => s.xr);
async function xrFrames(page, n) {
  const start = (await xr(page)).frames;
  return waitXr(page, (x) => !x.active || x.frames >= start + n, `${n} more XR frames`);
}

for (const backend of BACKENDS) {
  test(`${backend}: a ${PARTS.toLocaleString('en-US')}-part assembly loads with every node and triangle`, { timeout: TEST_TIMEOUT }, async (t) => {
    const { page, opened, loadMs } = await assemblyPage(backend);
    await reporting(page, `${backend}-load`, async () => {
      assert.equal(opened.state, 'ready', `lastError: ${opened.lastError}`);
      const s = await h.waitForIdle(page, { timeoutMs: 120_000 });
      t.diagnostic(
        `${backend}: ready after ${loadMs} ms (first frame ${Math.round(s.firstFrameMs)} ms), ${s.drawCalls} draw calls, ` +
          `${s.triangles} triangles, ${s.cpuMsLastFrame.toFixed(1)} ms wasm CPU last frame, wasm memory ${(s.memory.wasmBytes / 2 ** 20).toFixed(0)} MiB; ` +
          `whole model uploaded at ${Math.round(s.modelUploadedMs)} ms after ${s.modelUploadFrames} frames drawing part of it`,
      );
      // Tens of megabytes of geometry arrive over several frames, each drawing what has landed.
      assert.ok(s.modelUploadFrames >= 1, `modelUploadFrames ${s.modelUploadFrames}`);
      assert.ok(s.modelUploadedMs > s.firstFrameMs, `uploaded ${s.modelUploadedMs}, first frame ${s.firstFrameMs}`);
      save(`${backend}.png`, (await h.canvasPixels(page)).png);
      assert.equal(s.backend, backend);
      assert.equal(s.nodes, gen.nodes, 'stats().nodes: root + units + sub-units + parts');
      assert.equal(s.triangles, gen.triangles, 'every part drawn (the whole assembly is in view)');
      assert.equal(s.lastError, null);
      assert.deepEqual(h.pageErrors(page), []);
    });
  });

  test(`${backend}: the assembly is drawn in at most ${MAX_DRAW_CALLS} draw calls`, { timeout: TEST_TIMEOUT }, async () => {
    const { page } = await assemblyPage(backend);
    await reporting(page, `${backend}-draws`, async () => {
      const s = await h.stats(page);
      assert.equal(s.state, 'ready');
      assert.ok(
        s.drawCalls > 0 && s.drawCalls <= MAX_DRAW_CALLS,
        `${s.drawCalls} draw calls for ${gen.parts} parts in ${gen.materials} materials; expected at most ${MAX_DRAW_CALLS} (parts batched by material)`,
      );
    });
  });

  test(`${backend}: in VR on a Quest 3 a controller ray selects a part and each eye takes at most ${MAX_DRAW_CALLS} draw calls`, { timeout: TEST_TIMEOUT }, async (t) => {
    const { page } = await assemblyPage(backend);
    await reporting(page, `${backend}-vr`, async () => {
      await page.locator('#xr-enter-vr').waitFor({ state: 'visible', timeout: 30_000 });
      await page.click('#xr-enter-vr');
      let x = await waitXr(page, (x) => x.active && x.frames >= 3, 'the VR session to run');
      x = await xrFrames(page, 3);
      const figures = { drawCallsPerView: x.drawCallsPerView, trianglesPerView: x.trianglesPerView, views: x.views };
      t.diagnostic(
        `${backend} VR: ${x.views} views, ${x.drawCallsPerView} draw calls and ${x.trianglesPerView} triangles per view, ` +
          `${x.cpuMsPerFrame.toFixed(1)} ms wasm CPU per XR frame (${x.cpuMsPerView.toFixed(2)} per view, ${x.cpuMsSubmit.toFixed(2)} submit)`,
      );
      save(`${backend}-vr.png`, await page.screenshot({ caret: 'initial' }));
      assert.equal(x.mode, 'immersive-vr');
      assert.equal(x.views, 2);
      assert.ok(x.trianglesPerView > 0);
      assert.equal(x.placementSource, 'vr');

      // Hold the right controller 3 m above the centre of the nearest skid, pointing down: the
      // first part under the ray belongs to that sub-unit (parts reach at most 4.3 m from their
      // skid's centre; skids stand 7 m apart).
      const [lo, hi] = [gen.bounds.min, gen.bounds.max];
      const pivot = [(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2];
      const target = subUnits.reduce((a, b) =>
        b.centre[2] > a.centre[2] + 1e-3 || (Math.abs(b.centre[2] - a.centre[2]) < 1e-3 && Math.abs(b.centre[0] - pivot[0]) < Math.abs(a.centre[0] - pivot[0])) ? b : a,
      );
      const { position: p, yaw, scale } = x.placementPose;
      const d = [0, 1, 2].map((k) => (target.centre[k] - pivot[k]) * scale);
      const world = [p[0] + Math.cos(yaw) * d[0] + Math.sin(yaw) * d[2], p[1] + d[1], p[2] - Math.sin(yaw) * d[0] + Math.cos(yaw) * d[2]];
      await page.evaluate((w) => {
        const c = window.__iwer.device.controllers.right;
        c.position.set(w[0], 3.0, w[2]);
        c.quaternion.set(-Math.SQRT1_2, 0, 0, Math.SQRT1_2); // -90° about X: looking down
      }, world);
      await xrFrames(page, 3);
      await page.evaluate(() => window.twinlens.xr.select());
      x = await waitXr(page, (x) => x.selected || x.teleports > 0, 'a select on the skid');
      t.diagnostic(`aimed at ${target.name} (world ${world.map((v) => v.toFixed(2))}): selected ${JSON.stringify(x.selected)}`);
      assert.equal(x.teleports, 0, `the ray missed ${target.name} and teleported instead`);
      assert.match(x.selected.node, PART_NAME);
      assert.ok(x.selected.node.startsWith(`${target.name}/P`), `selected ${x.selected.node}, aimed at ${target.name}`);

      await page.evaluate(() => window.twinlens.xr.exit());
      await waitXr(page, (x) => !x.active && !x.starting, 'the session to end');
      assert.deepEqual(h.pageErrors(page), []);
      assert.ok(
        figures.drawCallsPerView > 0 && figures.drawCallsPerView <= MAX_DRAW_CALLS,
        `${figures.drawCallsPerView} draw calls per eye for ${gen.parts} parts; expected at most ${MAX_DRAW_CALLS}`,
      );
    });
  });
}

/** Pixels of `image` that look like the magenta tint, lit or shaded. */
function magentaMask({ width, height, data }) {
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [data[i * 4], data[i * 4 + 1], data[i * 4 + 2]];
    mask[i] = r > 110 && b > 110 && g < 0.5 * Math.min(r, b) && Math.abs(r - b) < 80 ? 1 : 0;
  }
  return mask;
}

/** The magenta pixel with the most magenta neighbours (the middle of a tinted part). */
function solidestPixel(mask, width, height, half = 3) {
  let best = null;
  for (let y = half; y < height - half; y++) {
    for (let x = half; x < width - half; x++) {
      if (!mask[y * width + x]) continue;
      let n = 0;
      for (let dy = -half; dy <= half; dy++) for (let dx = -half; dx <= half; dx++) n += mask[(y + dy) * width + x + dx];
      if (!best || n > best.n) best = { x, y, n };
    }
  }
  return best;
}

for (const backend of BACKENDS) {
  test(`${backend}: live values tint the parts they are bound to, and a click on a tinted part opens its sensor`, { timeout: TEST_TIMEOUT }, async (t) => {
    const page = await newAssemblyPage();
    feed.reset();
    try {
      await reporting(page, `${backend}-tint`, async () => {
        const opened = await h.openTwin(page, app.server.url, `backend=${backend}&manifest=fixtures/assembly/assembly.twin.json`, {
          timeoutMs: LOAD_TIMEOUT_MS,
        });
        assert.equal(opened.state, 'ready', `lastError: ${opened.lastError}`);
        assert.equal(opened.sensorsBound, TINT_SENSORS);
        // Closer in, so parts are larger than the label markers above them.
        const box = await page.locator('#twin-canvas').boundingBox();
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        for (let i = 0; i < ZOOM_STEPS; i++) await page.mouse.wheel(0, -240);
        await h.waitForIdle(page, { timeoutMs: 120_000 });
        const plain = await h.canvasPixels(page);
        save(`${backend}-untinted.png`, plain.png);
        const { width, height } = plain.image;
        const count = (mask) => mask.reduce((a, b) => a + b, 0);
        const before = count(magentaMask(plain.image));

        // Every sensor gets a value: its part turns magenta.
        const ids = JSON.parse(files['assembly.twin.json']).sensors.map((s) => s.id);
        feed.send(ids.map((id, i) => [id, 40 + (i % 20)]));
        await h.waitForStats(page, (s) => s.connection?.samplesIn >= TINT_SENSORS || Object.keys(s.readings ?? {}).length >= TINT_SENSORS, {
          timeoutMs: 60_000,
          what: 'all readings received',
        });
        await h.waitForIdle(page, { timeoutMs: 120_000 });
        const tinted = await h.canvasPixels(page);
        save(`${backend}-tinted.png`, tinted.png);
        const mask = magentaMask(tinted.image);
        const after = count(mask);
        t.diagnostic(`${backend}: magenta pixels ${before} -> ${after} of ${width * height} (${TINT_SENSORS} of ${gen.parts} parts tinted)`);
        assert.ok(before < 20, `${before} magenta pixels before any reading`);
        assert.ok(after > 500, `only ${after} magenta pixels once ${TINT_SENSORS} parts are tinted`);
        // Recolouring uploads only the recoloured parts' state: at most 32 bytes each.
        const up = (await h.stats(page)).nodeUpload;
        t.diagnostic(`${backend}: largest tint upload ${up.maxBytes} bytes in ${up.maxWrites} writes with ${up.maxTinted} parts tinted`);
        assert.ok(up.maxTinted >= 1 && up.maxBytes > 0, JSON.stringify(up));
        assert.ok(up.maxBytes <= 32 * TINT_SENSORS, `${up.maxBytes} bytes uploaded to tint ${TINT_SENSORS} parts`);

        // A click in the middle of a tinted part selects it: the card names its sensor.
        const at = solidestPixel(mask, width, height);
        await page.mouse.click(box.x + at.x, box.y + at.y);
        const card = page.locator('#detail');
        await card.waitFor({ state: 'visible', timeout: 30_000 });
        const text = await card.innerText();
        t.diagnostic(`click at ${at.x},${at.y}: ${text.split('\n')[0]}`);
        assert.match(text, /asm\.p\d{4}\.[a-z]+0/);
        assert.deepEqual(h.pageErrors(page), []);
      });
    } finally {
      await page.context().close().catch(() => {});
    }
  });
}
