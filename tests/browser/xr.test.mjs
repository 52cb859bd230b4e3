// WebXR in headless Chromium with IWER (Meta's Immersive Web Emulation Runtime) and its synthetic
// environment module: AR placement, anchors and alignment on an emulated phone in a captured
// living room, a VR walkthrough on an emulated Quest 3, entering and leaving without leaks, and
// the framebuffer path against the canvas path.
// Run: npm run test:browser (needs `trunk build` into dist/, `cargo build -p twinlens-cli` and
// `npm ci` for iwer / @iwer/sem; see harness.mjs for the environment variables).
//
// IWER is loaded from node_modules as its UMD builds by init scripts, so it is installed before
// the app starts (the app checks navigator.xr at start), and the page itself is served
// unmodified. The emulated device's pose and controllers are scripted from the test through
// `window.__iwer.device`. IWER keeps persistent anchors in localStorage; each page starts clean.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 240_000; // ms: page loads and XR frames are slow on SwiftShader
const MAX_DRAW_CALLS_PER_VIEW = 100;
const MAX_ALIGN_RMS_CM = 1.0;
const SAME_PICTURE_TOLERANCE = 3; // mean |a - b| per RGB channel, 0..255
const DEMO_NAME = 'Pump skid P-101';
const IWER_ANCHORS_KEY = '@immersive-web-emulation-runtime/persistent-anchors';


const ART = 'xr-';
const save = (name, buf) => h.saveArtifact(ART + name, buf);

// ---------------------------------------------------------------------------------------------
// Pages with an emulated XR device.

const MODULES = path.join(h.REPO_ROOT, 'node_modules');
const MIME = { '.js': 'text/javascript', '.json': 'application/json' };

/** Serve files under /node_modules/ of the page's origin from the repository. */
async function routeNodeModules(page) {
  await page.route(
    (url) => url.pathname.startsWith('/node_modules/'),
    (route) => {
      const rel = decodeURIComponent(new URL(route.request().url()).pathname).slice('/node_modules/'.length);
      const file = path.join(MODULES, rel);
      if (!file.startsWith(MODULES + path.sep) || !fs.existsSync(file)) return route.fulfill({ status: 404 });
      return route.fulfill({ status: 200, contentType: MIME[path.extname(file)] || 'application/octet-stream', body: fs.readFileSync(file) });
    },
  );
}

/**
 * Install IWER before the page's scripts run. `device`: 'phone' (mono, AR only, hit-test, anchors,
 * dom-overlay, no controllers) or 'quest3' (stereo, controllers). `fakeFramebuffer`: make
 * XRWebGLLayer hand out an opaque framebuffer of the canvas's size, as real devices do (IWER's is
 * null), so the "webgl-layer" path runs; `window.__readXrFramebuffer()` reads it back.
 */
async function installIwer(page, { device, fakeFramebuffer = false }) {
  await routeNodeModules(page);
  await page.addInitScript({ path: path.join(MODULES, 'iwer/build/iwer.js') });
  await page.addInitScript({ path: path.join(MODULES, '@iwer/sem/build/iwer-sem.js') });
  await page.addInitScript(
    ({ device, fakeFramebuffer, anchorsKey }) => {
      // Every page starts without anchors persisted by an earlier test.
      if (!sessionStorage.getItem('__xrTestStarted')) {
        sessionStorage.setItem('__xrTestStarted', '1');
        localStorage.removeItem(anchorsKey);
      }
      const { XRDevice, metaQuest3 } = window.IWER;
      const dev =
        device === 'phone'
          ? new XRDevice(
              {
                ...metaQuest3,
                name: 'Phone',
                controllerConfig: undefined,
                supportedSessionModes: ['inline', 'immersive-ar'],
                supportedFeatures: ['viewer', 'local', 'local-floor', 'hit-test', 'anchors', 'dom-overlay'],
              },
              { stereoEnabled: false, fovy: 1.0 },
            )
          : new XRDevice(metaQuest3, { stereoEnabled: true });
      dev.installRuntime({ forceInstall: true });
      dev.installSEM(window.IWER_SEM.SyntheticEnvironmentModule);
      const ready = fetch('/node_modules/@iwer/sem/captures/living_room.json')
        .then((r) => r.json())
        .then((env) => {
          dev.sem.loadEnvironment(env);
          return true;
        });
      window.__iwer = { device: dev, ready };

      if (fakeFramebuffer) {
        const proto = window.XRWebGLLayer.prototype;
        const make = (layer) => {
          if (!layer.__fb) {
            const gl = layer.context;
            const [w, hgt] = [gl.canvas.width, gl.canvas.height];
            const prevFb = gl.getParameter(gl.FRAMEBUFFER_BINDING);
            const prevRb = gl.getParameter(gl.RENDERBUFFER_BINDING);
            const rb = gl.createRenderbuffer();
            gl.bindRenderbuffer(gl.RENDERBUFFER, rb);
            gl.renderbufferStorage(gl.RENDERBUFFER, gl.RGBA8, w, hgt);
            const fb = gl.createFramebuffer();
            gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
            gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.RENDERBUFFER, rb);
            gl.bindFramebuffer(gl.FRAMEBUFFER, prevFb);
            gl.bindRenderbuffer(gl.RENDERBUFFER, prevRb);
            layer.__fb = { fb, w, hgt };
            window.__xrFramebuffer = { gl, fb, w, hgt };
          }
          return layer.__fb;
        };
        Object.defineProperty(proto, 'framebuffer', { configurable: true, get() { return make(this).fb; } });
        Object.defineProperty(proto, 'framebufferWidth', { configurable: true, get() { return make(this).w; } });
        Object.defineProperty(proto, 'framebufferHeight', { configurable: true, get() { return make(this).hgt; } });
        // RGBA rows top first (GL reads bottom first), base64.
        window.__readXrFramebuffer = () => {
          const { gl, fb, w, hgt } = window.__xrFramebuffer;
          const prev = gl.getParameter(gl.READ_FRAMEBUFFER_BINDING);
          gl.bindFramebuffer(gl.READ_FRAMEBUFFER, fb);
          const px = new Uint8Array(w * hgt * 4);
          gl.readPixels(0, 0, w, hgt, gl.RGBA, gl.UNSIGNED_BYTE, px);
          gl.bindFramebuffer(gl.READ_FRAMEBUFFER, prev);
          const flipped = new Uint8Array(px.length);
          for (let y = 0; y < hgt; y++) flipped.set(px.subarray((hgt - 1 - y) * w * 4, (hgt - y) * w * 4), y * w * 4);
          let bin = '';
          for (let i = 0; i < flipped.length; i += 0x8000) bin += String.fromCharCode.apply(null, flipped.subarray(i, i + 0x8000));
          return { width: w, height: hgt, base64: btoa(bin) };
        };
      }
    },
    { device, fakeFramebuffer, anchorsKey: IWER_ANCHORS_KEY },
  );
}

/**
 * Count event listeners the app registers (calls from its wasm-bindgen glue file) and keeps:
 * `window.__appListeners()` is the number currently registered.
 */
async function countAppListeners(page) {
  await page.addInitScript(() => {
    const live = new Set();
    const key = (t, type, fn) => ({ t, type, fn });
    const fromApp = () => /\/twinlens-[0-9a-f]+\.js/.test(new Error().stack || '');
    const add = EventTarget.prototype.addEventListener;
    const remove = EventTarget.prototype.removeEventListener;
    EventTarget.prototype.addEventListener = function (type, fn, opts) {
      if (fn && fromApp()) live.add(key(this, type, fn));
      return add.call(this, type, fn, opts);
    };
    EventTarget.prototype.removeEventListener = function (type, fn, opts) {
      for (const k of live) if (k.t === this && k.type === type && k.fn === fn) live.delete(k);
      return remove.call(this, type, fn, opts);
    };
    window.__appListeners = () => live.size;
  });
}

/** `fn(page)` on a fresh page, with a failure screenshot and page report (see the harness). */
const withPage = (name, fn) => h.withPage(app.browser, ART + name, fn);

async function openReady(page, query = '') {
  const s = await h.openTwin(page, app.server.url, query);
  assert.equal(s.state, 'ready', `?${query}: state "${s.state}" (lastError: ${s.lastError})`);
  return s;
}

const xr = async (page) => (await h.stats(page)).xr;

async function waitXr(page, pred, what, timeoutMs = 60_000) {
  const s = await h.waitForStats(page, (st) => st.xr && pred(st.xr), { timeoutMs, what });
  return s.xr;
}

/** Wait until the session has rendered `n` more frames (poses and input apply per frame). */
async function frames(page, n = 3) {
  const start = (await xr(page)).frames;
  return waitXr(page, (x) => !x.active || x.frames >= start + n, `${n} more XR frames`);
}

/** Set the emulated headset/phone pose: position [x, y, z], orientation as a quaternion. */
const setPose = (page, position, quaternion = [0, 0, 0, 1]) =>
  page.evaluate(
    ({ p, q }) => {
      const d = window.__iwer.device;
      d.position.set(...p);
      d.quaternion.set(...q);
    },
    { p: position, q: quaternion },
  );

/** Quaternion for a rotation of `angle` radians about a unit axis. */
const quat = (axis, angle) => [...axis.map((v) => v * Math.sin(angle / 2)), Math.cos(angle / 2)];
/** Pitch (about X) then yaw (about Y): yaw · pitch. */
function yawPitch(yaw, pitch) {
  const [x1, y1, z1, w1] = quat([0, 1, 0], yaw);
  const [x2, y2, z2, w2] = quat([1, 0, 0], pitch);
  return [
    w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
    w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
    w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
  ];
}
const LOOK_DOWN = quat([1, 0, 0], -Math.PI / 2);

async function enter(page, mode) {
  await page.evaluate(() => window.__iwer.ready);
  const button = mode === 'ar' ? '#xr-enter-ar' : '#xr-enter-vr';
  await page.locator(button).waitFor({ state: 'visible', timeout: 30_000 });
  await page.click(button);
  return waitXr(page, (x) => x.active && x.frames >= 3, `the ${mode} session to run`);
}

async function exit(page) {
  await page.click('#xr-hud [data-xr=exit]');
  await waitXr(page, (x) => !x.active && !x.starting, 'the session to end');
  // The inline view draws again.
  return h.waitForStats(page, (s) => s.frames >= 1 && !s.xr.active, { what: 'inline frame' });
}

/**
 * `stats().xr.gpu` once it reads the same three times in a row, 200 ms apart, after two more
 * inline frames (wgpu frees a dropped object at a later submit, once the GPU is done with it).
 */
async function settledGpu(page, timeoutMs = 30_000) {
  for (let i = 0; i < 2; i++) {
    const f = (await h.stats(page)).frames;
    await page.evaluate(() => window.dispatchEvent(new Event('resize')));
    await h.waitForStats(page, (s) => s.frames > f, { what: 'an inline frame' });
  }
  const deadline = Date.now() + timeoutMs;
  let last = null;
  let same = 0;
  for (;;) {
    const gpu = (await xr(page)).gpu;
    same = JSON.stringify(gpu) === JSON.stringify(last) ? same + 1 : 0;
    last = gpu;
    // Stable for a second: a session's objects are freed once the GPU is done with them,
    // which on a loaded machine can take several polls.
    if (same >= 5) return gpu;
    if (Date.now() > deadline) throw new Error(`GPU object counts never settled: ${JSON.stringify(gpu)}`);
    await h.sleep(200);
  }
}

const near = (a, b, tol) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

// ---------------------------------------------------------------------------------------------
// Entry buttons.

const app = h.useServerAndBrowser({ artifacts: ART });

test('without an XR device the AR/VR buttons stay hidden and the page says why', { timeout: TEST_TIMEOUT }, () =>
  withPage('no-device', async (page) => {
    await openReady(page);
    const x = await waitXr(page, (x) => x.supported.checked, 'the support check');
    assert.equal(x.supported.ar, false);
    assert.equal(x.supported.vr, false);
    assert.match(x.supported.reason, /no AR or VR device/);
    assert.equal(await page.locator('#xr-enter-ar').isVisible(), false);
    assert.equal(await page.locator('#xr-enter-vr').isVisible(), false);
    const reason = page.locator('#xr-reason');
    assert.equal(await reason.isVisible(), true);
    assert.match(await reason.textContent(), /headset/);
  }),
);

test('a page opened without a secure context points to the server\'s --https option', { timeout: TEST_TIMEOUT }, () =>
  withPage('insecure', async (page) => {
    // What a phone sees at http://<LAN address>: no navigator.xr, isSecureContext false.
    await page.addInitScript(() => {
      delete Navigator.prototype.xr;
      Object.defineProperty(window, 'isSecureContext', { get: () => false });
    });
    await openReady(page);
    const x = await waitXr(page, (x) => x.supported.checked, 'the support check');
    assert.match(x.supported.reason, /twinlens serve --https/);
    assert.match(await page.locator('#xr-reason').textContent(), /https:\/\//);
  }),
);

// ---------------------------------------------------------------------------------------------
// AR on a phone: one page for the placement, persistence and alignment tests, in order.

let phone;
function phonePage() {
  phone ??= (async () => {
    const page = await h.newPage(app.browser);
    await installIwer(page, { device: 'phone' });
    await openReady(page);
    await page.evaluate((name) => localStorage.removeItem(`twinlens.placement.${name}`), DEMO_NAME);
    return page;
  })();
  return phone;
}
after(async () => (await phone?.catch(() => null))?.context().close().catch(() => {}));

async function withPhone(name, fn) {
  const page = await phonePage();
  try {
    return await fn(page);
  } catch (e) {
    try {
      save(`${name}-failure.png`, await page.screenshot({ timeout: 10_000, caret: 'initial' }));
      // Leave no session running for the next test.
      await page.evaluate(() => window.twinlens.xr.exit());
    } catch {
      // page gone
    }
    throw h.withPageReport(e, page);
  }
}

test('AR on a phone: the reticle follows hits, select places the twin and anchors it', { timeout: TEST_TIMEOUT }, () =>
  withPhone('ar-place', async (page) => {
    assert.equal(await page.locator('#xr-enter-vr').isVisible(), false, 'the phone has no VR');
    await setPose(page, [0, 1.5, 0], yawPitch(0, -0.9));
    let x = await enter(page, 'ar');
    assert.equal(x.mode, 'immersive-ar');
    assert.equal(x.views, 1, 'a phone renders one view');
    assert.equal(x.environmentBlendMode, 'alpha-blend');
    assert.equal(x.path, 'webgl-canvas', 'IWER layers have no framebuffer');
    assert.ok(await page.locator('#xr-hud').isVisible(), 'the HUD shows during the session');

    // Hit results lag a frame behind the pose: wait a few.
    x = await waitXr(page, (x) => x.reticle && x.placement === 'previewing', 'a floor hit');
    const first = x.reticle;
    assert.ok(Math.abs(first[1]) < 0.05, `reticle on the floor, y = ${first[1]}`);
    await setPose(page, [0.4, 1.5, -0.3], yawPitch(0, -0.9));
    x = await waitXr(page, (x) => x.reticle && Math.abs(x.reticle[0] - first[0] - 0.4) < 0.02, 'the reticle to follow');
    assert.ok(Math.abs(x.reticle[2] - first[2] + 0.3) < 0.02, `reticle moved with the phone: ${first} -> ${x.reticle}`);
    assert.deepEqual(x.hud, ['place', 'exit']);

    // Looking straight ahead there is only the wall: no place to stand the twin.
    await setPose(page, [0, 1.5, 0]);
    x = await waitXr(page, (x) => x.placement === 'searching', 'searching on a wall');
    await setPose(page, [0, 1.5, 0], yawPitch(0, -0.9));
    x = await waitXr(page, (x) => x.placement === 'previewing', 'previewing again');

    await page.click('#xr-hud [data-xr=place]');
    x = await waitXr(page, (x) => x.placement === 'placed' && x.anchor === 'tracked', 'placed and anchored');
    assert.equal(x.placementSource, 'hit');
    assert.equal(x.placementPose.scale, 1, 'life size by default');
    assert.ok(near(x.placementPose.position, x.reticle, 0.05), `placed at the reticle: ${x.placementPose.position} vs ${x.reticle}`);
    x = await waitXr(page, (x) => x.anchorPersistent, 'a persistent anchor handle');
    const stored = await page.evaluate((name) => localStorage.getItem(`twinlens.placement.${name}`), DEMO_NAME);
    assert.match(stored, /"anchor":"[0-9a-f-]{36}"/, 'placement stored with the anchor handle');

    // A tap on the placed twin selects the part under the screen centre.
    await page.evaluate(() => window.twinlens.xr.select());
    x = await waitXr(page, (x) => x.selected, 'a part selected');
    assert.ok(x.selected.node.length > 0);
    const hudSelected = await page.locator('#xr-hud-selected').textContent();
    assert.match(hudSelected, /Selected: /);
    if (x.selected.sensor) {
      // The HUD reads the value as the labels do: unit and precision from the manifest.
      const s = await h.stats(page);
      const label = s.labels.find((l) => l.id === x.selected.sensor);
      const number = label && /^(-?\d+)(?:\.(\d+))?(.*)$/.exec(label.value);
      if (number) {
        // Same decimals and unit as the label, whatever the value is by now.
        const decimals = number[2] ? `\\.\\d{${number[2].length}}` : '';
        const unit = number[3].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(hudSelected, new RegExp(`${label.title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} -?\\d+${decimals}${unit}`), `HUD "${hudSelected}" vs label ${JSON.stringify(label)}`);
      }
    }

    // HUD rotate and tabletop.
    const yaw = x.placementPose.yaw;
    await page.click('#xr-hud [data-xr=rotate-left]');
    x = await waitXr(page, (x) => Math.abs(x.placementPose.yaw - yaw - Math.PI / 12) < 1e-3, 'a 15° turn');
    await page.click('#xr-hud [data-xr=scale]');
    x = await waitXr(page, (x) => x.placementPose.scale < 0.5, 'tabletop size');
    await page.click('#xr-hud [data-xr=scale]');
    x = await waitXr(page, (x) => x.placementPose.scale === 1, 'life size again');

    await frames(page, 5);
    x = await xr(page);
    assert.ok(x.drawCallsPerView > 0 && x.drawCallsPerView <= MAX_DRAW_CALLS_PER_VIEW, `draw calls per view ${x.drawCallsPerView}`);
    assert.ok(x.cpuMsPerFrame > 0 && x.cpuMsPerView > 0, `cpu ${x.cpuMsPerFrame} / ${x.cpuMsPerView}`);
    console.log(
      `AR (phone, 1 view): ${x.drawCallsPerView} draw calls per view, ${x.cpuMsPerFrame.toFixed(2)} ms per frame, ` +
        `${x.cpuMsPerView.toFixed(3)} ms per view, ${x.cpuMsSubmit.toFixed(2)} ms submit (SwiftShader)`,
    );
    save('ar-placed.png', await page.screenshot({ caret: 'initial' }));

    const s = await exit(page);
    assert.equal(s.xr.placement, 'placed', 'last session figures stay readable');
  }),
);

test('AR: the next session restores the twin at its persistent anchor', { timeout: TEST_TIMEOUT }, () =>
  withPhone('ar-restore', async (page) => {
    const before = (await xr(page)).placementPose;
    await setPose(page, [0.5, 1.5, 0.5], yawPitch(0.3, -0.9));
    await enter(page, 'ar');
    const x = await waitXr(page, (x) => x.placement === 'placed', 'the restored placement');
    assert.equal(x.placementSource, 'restored-anchor');
    assert.ok(near(x.placementPose.position, before.position, 0.01), `${x.placementPose.position} vs ${before.position}`);
    assert.ok(Math.abs(x.placementPose.yaw - before.yaw) < 0.01);
    assert.equal(x.anchor, 'tracked');
    await exit(page);
  }),
);

test('AR: without a persistent anchor the stored placement is offered and restored on request', { timeout: TEST_TIMEOUT }, () =>
  withPhone('ar-offer', async (page) => {
    const placement = { v: 1, p: [0.3, 0, -1.2], yaw: 0.5, pivot: [0, 0, 0], scale: 1, tabletop: false };
    await page.evaluate(
      ({ name, json, anchorsKey }) => {
        localStorage.setItem(`twinlens.placement.${name}`, json);
        localStorage.removeItem(anchorsKey);
      },
      { name: DEMO_NAME, json: JSON.stringify(placement), anchorsKey: IWER_ANCHORS_KEY },
    );
    await setPose(page, [0, 1.5, 0], yawPitch(0, -0.9));
    let x = await enter(page, 'ar');
    x = await waitXr(page, (x) => x.restoreOffered, 'the offer');
    assert.notEqual(x.placement, 'placed', 'nothing is placed without confirmation');
    assert.ok(x.hud.includes('restore'));
    await page.click('#xr-hud [data-xr=restore]');
    x = await waitXr(page, (x) => x.placement === 'placed', 'restored');
    assert.equal(x.placementSource, 'restored-storage');
    assert.ok(near(x.placementPose.position, placement.p, 1e-3));
    assert.ok(Math.abs(x.placementPose.yaw - placement.yaw) < 1e-3);
    await waitXr(page, (x) => x.anchor === 'tracked', 'an anchor at the restored placement');
    await exit(page);
  }),
);

test('AR alignment with three exact point pairs: RMS error under 1 cm', { timeout: TEST_TIMEOUT }, () =>
  withPhone('ar-align', async (page) => {
    await setPose(page, [0, 1.5, 0], yawPitch(0, -0.9));
    await enter(page, 'ar');
    let x = await waitXr(page, (x) => x.placement !== 'searching', 'a surface');
    if (x.placement === 'previewing') await page.click('#xr-hud [data-xr=place]');
    await waitXr(page, (x) => x.placement === 'placed', 'placed');
    await page.click('#xr-hud [data-xr=align]');
    await waitXr(page, (x) => x.alignment.active && x.hud.includes('mark-model'), 'alignment mode');

    // The real machine stands turned by 0.4 rad and moved; its reference points lie on a bare
    // part of the living room's floor (x -1..0, z -2..-0.5; furniture elsewhere).
    const yaw = 0.4;
    const t = [-0.8, 0, -1.4];
    const model = [
      [0, 0, 0],
      [0.6, 0, 0.1],
      [0.1, 0, 0.6],
    ];
    const world = model.map(([mx, my, mz]) => [
      Math.cos(yaw) * mx + Math.sin(yaw) * mz + t[0],
      my + t[1],
      -Math.sin(yaw) * mx + Math.cos(yaw) * mz + t[2],
    ]);
    for (let i = 0; i < 3; i++) {
      await page.evaluate((p) => window.twinlens.xr.markModelPoint(p), model[i]);
      await waitXr(page, (x) => x.alignment.modelPoints.length === i + 1 && x.hud.includes('mark-real'), `model point ${i + 1}`);
      // Stand above the real point and look straight down: the viewer ray hits it.
      await setPose(page, [world[i][0], 1.4, world[i][2]], LOOK_DOWN);
      x = await waitXr(page, (x) => x.reticle && near([x.reticle[0], x.reticle[2]], [world[i][0], world[i][2]], 0.002), `the reticle on real point ${i + 1}`);
      world[i][1] = x.reticle[1]; // the floor's height in the room
      await page.click('#xr-hud [data-xr=mark-real]');
      await waitXr(page, (x) => x.alignment.realPoints.length === i + 1, `real point ${i + 1}`);
    }
    x = await waitXr(page, (x) => x.alignmentRmsCm != null && x.alignment.residualsCm.length === 3, 'the solved alignment');
    assert.ok(x.alignmentRmsCm < MAX_ALIGN_RMS_CM, `RMS ${x.alignmentRmsCm} cm: ${JSON.stringify(x.alignment)}; expected world points ${JSON.stringify(world)}`);
    assert.equal(x.placementSource, 'aligned');
    assert.ok(Math.abs(x.alignment.scaleRatio - 1) < 0.01);
    // The pose the twin now stands at puts every model point on its real point, turned by the
    // machine's yaw: checked from the placement itself, not only from the RMS the app reports.
    const pose = x.placementPose;
    const turn = Math.atan2(Math.sin(pose.yaw - yaw), Math.cos(pose.yaw - yaw));
    assert.ok(Math.abs(turn) < 0.01, `placed at yaw ${pose.yaw}, the machine stands at ${yaw}`);
    model.forEach(([mx, my, mz], i) => {
      const [dx, dy, dz] = [mx - pose.pivot[0], my - pose.pivot[1], mz - pose.pivot[2]].map((v) => v * pose.scale);
      const shown = [
        pose.position[0] + Math.cos(pose.yaw) * dx + Math.sin(pose.yaw) * dz,
        pose.position[1] + dy,
        pose.position[2] - Math.sin(pose.yaw) * dx + Math.cos(pose.yaw) * dz,
      ];
      assert.ok(near(shown, world[i], 0.01), `model point ${i + 1} shown at ${shown}, real point at ${world[i]}`);
    });
    assert.match(await page.locator('#xr-hud-align').textContent(), /3 points, error \d+\.\d cm RMS/);
    console.log(`alignment: RMS ${x.alignmentRmsCm.toFixed(3)} cm, residuals ${x.alignment.residualsCm.map((r) => r.toFixed(3)).join(', ')} cm`);
    await page.click('#xr-hud [data-xr=align-done]');
    await waitXr(page, (x) => !x.alignment.active, 'alignment done');
    await exit(page);
  }),
);

test('AR on a headset: the trigger places, the grip drags, the thumbstick turns and clicks into alignment', { timeout: TEST_TIMEOUT }, () =>
  withPage('ar-headset', async (page) => {
    await installIwer(page, { device: 'quest3' });
    await openReady(page);
    await setPose(page, [0, 1.6, 0], yawPitch(0, -0.9));
    let x = await enter(page, 'ar');
    assert.equal(x.views, 2, 'a headset renders two views in AR too');
    const controller = (props) =>
      page.evaluate((p) => {
        const c = window.__iwer.device.controllers.right;
        if (p.position) c.position.set(...p.position);
        if (p.quaternion) c.quaternion.set(...p.quaternion);
        if (p.button) c.updateButtonValue(p.button[0], p.button[1]);
        if (p.axes) c.updateAxes('thumbstick', ...p.axes);
      }, props);
    const press = async (button) => {
      await controller({ button: [button, 1] });
      await frames(page, 2);
      await controller({ button: [button, 0] });
      await frames(page, 2);
    };
    await controller({ position: [0.2, 1.2, -0.3], quaternion: yawPitch(0, -0.5) });
    await waitXr(page, (x) => x.placement === 'previewing', 'a floor hit');
    await press('trigger');
    x = await waitXr(page, (x) => x.placement === 'placed' && x.anchor === 'tracked', 'placed by the trigger');
    const placed = x.placementPose;

    // Squeeze and move the controller 30 cm to the right: the twin follows along the floor.
    await controller({ button: ['squeeze', 1] });
    await frames(page, 3);
    await controller({ position: [0.5, 1.3, -0.3] });
    await frames(page, 3);
    await controller({ button: ['squeeze', 0] });
    x = await waitXr(page, (x) => Math.abs(x.placementPose.position[0] - placed.position[0] - 0.3) < 0.01, 'the grip drag');
    assert.ok(Math.abs(x.placementPose.position[1] - placed.position[1]) < 1e-4, 'height stays on the floor');
    assert.ok(Math.abs(x.placementPose.position[2] - placed.position[2]) < 0.01);

    // Thumbstick left turns the twin counter-clockwise.
    await controller({ axes: [-1, 0] });
    await frames(page, 5);
    await controller({ axes: [0, 0] });
    x = await frames(page, 2);
    assert.ok(x.placementPose.yaw - placed.yaw > 0.05, `turned: ${placed.yaw} -> ${x.placementPose.yaw}`);

    // A thumbstick click starts alignment (no DOM overlay on a headset), another ends it.
    await press('thumbstick');
    x = await waitXr(page, (x) => x.alignment.active, 'alignment mode');
    await press('thumbstick');
    await waitXr(page, (x) => !x.alignment.active, 'alignment off');
    await exit(page);
  }),
);

// ---------------------------------------------------------------------------------------------
// Entering and leaving.

test('entering and leaving AR five times leaks no listeners, GPU objects or canvases; the inline view comes back unchanged', { timeout: TEST_TIMEOUT }, () =>
  withPage('ar-cycles', async (page) => {
    await countAppListeners(page);
    await installIwer(page, { device: 'phone' });
    // WebGL2 page: the session borrows the page's own renderer and canvas. A bare model (no
    // live data) keeps the inline picture still, to compare it before and after.
    await openReady(page, 'backend=webgl&model=demo/pump-skid.glb');
    await h.waitForIdle(page, { timeoutMs: 60_000 });
    const before = await h.canvasPixels(page, { hide: ['#status', '#xr-entry'] });
    const listeners0 = await page.evaluate(() => window.__appListeners());
    const canvases0 = await page.evaluate(() => document.querySelectorAll('canvas').length);
    let gpuAfterFirst = null;
    for (let i = 1; i <= 5; i++) {
      await setPose(page, [0, 1.5, 0], yawPitch(0.2 * i, -0.9));
      const x = await enter(page, 'ar');
      assert.equal(x.renderer, 'inline');
      assert.ok((await page.evaluate(() => window.__appListeners())) > listeners0, 'the session listens while it runs');
      await frames(page, 3);
      const s = await exit(page);
      assert.equal(s.xr.sessions, i);
      assert.equal(await page.evaluate(() => window.__appListeners()), listeners0, `listeners after session ${i}`);
      assert.equal(await page.evaluate(() => document.querySelectorAll('canvas').length), canvases0, `canvases after session ${i}`);
      assert.equal(s.xr.sessionClosures, 0);
      assert.ok(s.xr.gpu, 'live GPU object counts on WebGL2');
      const gpu = await settledGpu(page);
      if (i === 1) gpuAfterFirst = gpu;
      else assert.deepEqual(gpu, gpuAfterFirst, `GPU objects after session ${i}`);
    }
    // The canvas is back where it was (IWER re-appends it at the end of <body>).
    assert.equal(await page.evaluate(() => document.body.firstElementChild?.id), 'twin-canvas');
    await h.waitForIdle(page, { timeoutMs: 60_000 });
    const after = await h.canvasPixels(page, { hide: ['#status', '#xr-entry'] });
    const diff = h.meanAbsDiff(before.image, after.image);
    save('inline-before.png', before.png);
    save('inline-after.png', after.png);
    assert.ok(diff < 0.5, `inline view after 5 sessions differs by ${diff.toFixed(3)} (same camera expected)`);
  }),
);

// ---------------------------------------------------------------------------------------------
// VR on a Quest 3.

test('VR on Quest 3: teleport with the trigger, snap turn with the thumbstick, select parts, ≤ 100 draw calls per eye', { timeout: TEST_TIMEOUT }, () =>
  withPage('vr', async (page) => {
    await installIwer(page, { device: 'quest3' });
    const s0 = await openReady(page);
    assert.ok(await page.locator('#xr-enter-ar').isVisible());
    let x = await enter(page, 'vr');
    assert.equal(x.mode, 'immersive-vr');
    assert.equal(x.views, 2, 'two eyes');
    assert.equal(x.referenceSpace, 'local-floor');
    assert.equal(x.renderer, s0.backend === 'webgpu' ? 'xr-canvas' : 'inline');
    assert.ok(x.drawCallsPerView > 0 && x.drawCallsPerView <= MAX_DRAW_CALLS_PER_VIEW, `draw calls per eye ${x.drawCallsPerView}`);
    assert.ok(near(x.viewer, [0, 1.6, 0], 1e-3));
    await frames(page, 10);
    x = await xr(page);
    console.log(
      `VR (Quest 3, 2 views): ${x.drawCallsPerView} draw calls per eye, ${x.cpuMsPerFrame.toFixed(2)} ms per frame, ` +
        `${x.cpuMsPerView.toFixed(3)} ms per view, ${x.cpuMsSubmit.toFixed(2)} ms submit (SwiftShader)`,
    );
    save('vr.png', await page.screenshot({ caret: 'initial' }));

    // Aim the right controller down and to the left, away from the twin, and pull the trigger.
    const aim = yawPitch(0.9, -0.6);
    await page.evaluate((q) => {
      const c = window.__iwer.device.controllers.right;
      c.position.set(0.2, 1.2, -0.3);
      c.quaternion.set(...q);
    }, aim);
    await frames(page, 3);
    const trigger = async (hand, v) => {
      await page.evaluate(({ hand, v }) => window.__iwer.device.controllers[hand].updateButtonValue('trigger', v), { hand, v });
      await frames(page, 2);
    };
    await trigger('right', 1);
    await trigger('right', 0);
    x = await waitXr(page, (x) => x.teleports === 1, 'a teleport');
    const moved = Math.hypot(x.viewer[0], x.viewer[2]);
    assert.ok(moved > 1, `the viewer moved ${moved.toFixed(2)} m`);
    assert.ok(Math.abs(x.viewer[1] - 1.6) < 1e-3, 'head height kept');
    assert.ok(x.viewer[0] < 0, `landed to the left: ${x.viewer}`);
    save('vr-teleported.png', await page.screenshot({ caret: 'initial' }));

    // Snap turn: one turn per push, none while held.
    const yaw0 = x.viewerYaw;
    await page.evaluate(() => window.__iwer.device.controllers.right.updateAxes('thumbstick', 1, 0));
    await frames(page, 4);
    await page.evaluate(() => window.__iwer.device.controllers.right.updateAxes('thumbstick', 0, 0));
    x = await waitXr(page, (x) => x.snapTurns === 1, 'a snap turn');
    await frames(page, 2);
    x = await xr(page);
    assert.equal(x.snapTurns, 1, 'held stick turns once');
    const turned = Math.atan2(Math.sin(x.viewerYaw - yaw0), Math.cos(x.viewerYaw - yaw0));
    assert.ok(Math.abs(turned + Math.PI / 6) < 1e-3, `turned right by 30°: ${turned}`);
    assert.ok(Math.abs(Math.hypot(x.viewer[0], x.viewer[2]) - moved) < 1e-3, 'turned on the spot');

    // Point the ray at the twin and select it.
    await page.evaluate(() => window.twinlens.xr.exit());
    await waitXr(page, (x) => !x.active, 'session end');
    await enter(page, 'vr');
    await page.evaluate(() => {
      const c = window.__iwer.device.controllers.right;
      c.position.set(0.1, 1.2, -0.3);
      c.quaternion.set(-0.17, 0, 0, 0.985);
    });
    await frames(page, 3);
    await trigger('right', 1);
    await trigger('right', 0);
    x = await waitXr(page, (x) => x.selected, 'a selected part');
    assert.equal(x.teleports, 0, 'a select on the twin does not teleport');

    // Paused while blurred (a system menu over the session): input is ignored, the session
    // stays. IWER itself stops controller events while blurred, so select through the API.
    await page.evaluate((q) => {
      const c = window.__iwer.device.controllers.right;
      c.position.set(0.2, 1.2, -0.3);
      c.quaternion.set(...q);
    }, aim);
    await page.evaluate(() => window.__iwer.device.updateVisibilityState('visible-blurred'));
    x = await waitXr(page, (x) => x.visibility === 'visible-blurred', 'blurred');
    await page.evaluate(() => window.twinlens.xr.select());
    await frames(page, 3);
    x = await xr(page);
    assert.equal(x.teleports, 0, 'no teleport while blurred');
    assert.ok(x.active, 'the session stays');
    assert.match(await page.locator('#xr-hud-status').textContent(), /Paused/);
    await page.evaluate(() => window.__iwer.device.updateVisibilityState('visible'));
    await waitXr(page, (x) => x.visibility === 'visible', 'visible again');
    await page.evaluate(() => window.twinlens.xr.select());
    await waitXr(page, (x) => x.teleports === 1, 'a teleport once visible');

    // The left controller teleports too.
    await page.evaluate((q) => {
      const c = window.__iwer.device.controllers.left;
      c.position.set(-0.2, 1.2, -0.3);
      c.quaternion.set(...q);
    }, yawPitch(2.4, -0.6)); // behind, away from the twin
    await frames(page, 2);
    await trigger('left', 1);
    await trigger('left', 0);
    await waitXr(page, (x) => x.teleports === 2, 'teleport with the left controller');

    // Hand tracking: a pinch is a select along the hand's ray.
    await page.evaluate(() => {
      window.__iwer.device.primaryInputMode = 'hand';
    });
    await frames(page, 3);
    const selects = (await xr(page)).selects;
    await page.evaluate(() => window.__iwer.device.hands.right.updatePinchValue(1));
    await frames(page, 2);
    await page.evaluate(() => window.__iwer.device.hands.right.updatePinchValue(0));
    await waitXr(page, (x) => x.selects === selects + 1, 'a select by pinch');
    await exit(page);
  }),
);

test('the opaque-framebuffer path draws the same picture as the canvas path', { timeout: TEST_TIMEOUT }, async () => {
  // Same pose, same scene, a bare model (no live data, so nothing changes between the shots).
  const shoot = (fakeFramebuffer) =>
    withPage(`fb-${fakeFramebuffer}`, async (page) => {
      await installIwer(page, { device: 'quest3', fakeFramebuffer });
      await openReady(page, 'backend=webgl&model=demo/pump-skid.glb');
      const x = await enter(page, 'vr');
      assert.equal(x.path, fakeFramebuffer ? 'webgl-layer' : 'webgl-canvas');
      await frames(page, 5);
      if (fakeFramebuffer) {
        const fb = await page.evaluate(() => window.__readXrFramebuffer());
        const image = { width: fb.width, height: fb.height, data: new Uint8Array(Buffer.from(fb.base64, 'base64')) };
        save('vr-framebuffer.png', h.encodePng(image));
        return image;
      }
      const shot = await h.canvasPixels(page, { hide: ['#status', '#xr-hud'] });
      save('vr-canvas.png', shot.png);
      return shot.image;
    });
  const canvas = await shoot(false);
  const framebuffer = await shoot(true);
  const diff = h.meanAbsDiff(canvas, framebuffer);
  if (diff >= SAME_PICTURE_TOLERANCE) save('vr-path-diff.png', h.encodePng(h.diffImage(canvas, framebuffer)));
  assert.ok(diff < SAME_PICTURE_TOLERANCE, `framebuffer vs canvas: mean difference ${diff.toFixed(2)}`);
  assert.ok(h.coverage(framebuffer) > 0.1, 'the framebuffer holds the scene');
});
