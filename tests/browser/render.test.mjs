// Rendering, loading errors and interaction of the twin page in headless Chromium (SwiftShader).
// Run: npm run test:browser   (needs `trunk build` into dist/ and `cargo build -p twinlens-cli`;
// see harness.mjs for TWINLENS_BIN, TWINLENS_DIST, TWINLENS_URL, CHROMIUM).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

const DEMO_MODEL = 'www/demo/pump-skid.glb';
// The demo model without its manifest: nothing changes unless the user acts.
const BARE_MODEL = 'demo/pump-skid.glb';
const TEST_TIMEOUT = 150_000; // ms; a page load alone may take up to 60 s on SwiftShader
const SRGB_TOLERANCE = 6; // max mean |webgpu - webgl| per RGB channel, 0..255
const ORBIT_MIN_DIFF = 1.0; // min mean |before - after| for an orbit drag, 0..255
const STATS_KEYS = ['backend', 'frames', 'drawCalls', 'triangles', 'nodes', 'lastError'];


// Screenshots land in tests/browser/output/ as render-*.png (kept on success too, for a look).
const ART = 'render-';
const save = (name, buf) => h.saveArtifact(ART + name, buf);

/** `fn(page)` on a fresh page, with a failure screenshot and page report (see the harness). */
const withPage = (name, fn) => h.withPage(app.browser, ART + name, fn);

/** Open the twin and require state "ready" (an "error" fails with the page's lastError). */
async function openReady(page, query) {
  const s = await h.openTwin(page, app.server.url, query);
  assert.equal(s.state, 'ready', `?${query}: expected state "ready", got "${s.state}" (lastError: ${s.lastError})`);
  assert.ok(s.frames >= 1, `?${query}: frames ${s.frames}`);
  return h.waitForIdle(page);
}

// Each backend's page is loaded once and shared by the tests that look at it.
const loaded = new Map();
function loadBackend(backend) {
  if (!loaded.has(backend)) {
    loaded.set(
      backend,
      withPage(`backend-${backend}`, async (page) => {
        // The bare model: no live feed, so both backends draw exactly the same scene.
        const stats = await openReady(page, `backend=${backend}&model=${BARE_MODEL}`);
        const shot = await h.canvasPixels(page);
        save(`backend-${backend}.png`, shot.png);
        return { stats, shot };
      }),
    );
  }
  return loaded.get(backend);
}

let demoStats;
const demoInfo = () => (demoStats ??= h.cliJson(['validate', DEMO_MODEL, '--json']));

const app = h.useServerAndBrowser({ artifacts: ART });

test('the browser offers WebGPU and WebGL2 on a loopback page', { timeout: 60_000 }, async (t) => {
  await withPage('gpu-probe', async (page) => {
    const p = await h.probeGpu(page, app.server.url);
    t.diagnostic(`gpu probe: ${JSON.stringify(p)}`);
    assert.ok(p.secureContext, 'a 127.0.0.1 page must be a secure context');
    assert.ok(p.webgpu, `navigator.gpu.requestAdapter() gave no adapter ${p.webgpuError ?? ''}`);
    assert.ok(p.webgpu.drew, `a WebGPU device could not draw: ${p.webgpuError}`);
    assert.ok(p.webgl2, 'no WebGL2 context');
  });
});

for (const backend of ['webgpu', 'webgl']) {
  test(`?backend=${backend} loads the demo and draws it`, { timeout: TEST_TIMEOUT }, async (t) => {
    const [{ stats, shot }, demo] = await Promise.all([loadBackend(backend), demoInfo()]);
    t.diagnostic(`${backend}: ${JSON.stringify(stats)}`);
    assert.equal(stats.backend, backend);
    assert.ok(stats.frames >= 1, `frames ${stats.frames}`);
    assert.equal(typeof demo.triangles, 'number', `validate --json gave no triangle count: ${JSON.stringify(demo)}`);
    assert.equal(stats.triangles, demo.triangles, `triangles drawn vs ${DEMO_MODEL}`);
    const cov = h.coverage(shot.image);
    t.diagnostic(`${backend}: model covers ${(cov * 100).toFixed(1)}% of the canvas`);
    assert.ok(cov > 0.05 && cov < 0.9, `model covers ${(cov * 100).toFixed(1)}% of the canvas; expected 5%..90%`);
  });
}

test('WebGPU and WebGL render the same pixels (same sRGB handling)', { timeout: TEST_TIMEOUT }, async (t) => {
  const gpu = await loadBackend('webgpu');
  const gl = await loadBackend('webgl');
  const a = gpu.shot.image;
  const b = gl.shot.image;
  assert.deepEqual([b.width, b.height], [a.width, a.height], 'both canvas screenshots have the same size');
  assert.ok(a.width * a.height > 0, 'the canvas has a size');
  const diff = h.meanAbsDiff(a, b);
  const file = save('backend-diff.png', h.encodePng(h.diffImage(a, b)));
  t.diagnostic(`mean |webgpu - webgl| = ${diff.toFixed(3)} / 255 (background webgpu ${h.cornerColor(a)} webgl ${h.cornerColor(b)})`);
  assert.ok(
    diff < SRGB_TOLERANCE,
    `mean absolute difference webgpu vs webgl is ${diff.toFixed(3)}/255, over ${SRGB_TOLERANCE}; ` +
      `backgrounds ${h.cornerColor(a)} vs ${h.cornerColor(b)}; diff image ${file}`,
  );
});

test('stats() has the documented keys', { timeout: TEST_TIMEOUT }, async () => {
  for (const backend of ['webgpu', 'webgl']) {
    const { stats } = await loadBackend(backend);
    for (const key of STATS_KEYS) assert.ok(key in stats, `stats() of ${backend} lacks "${key}": ${JSON.stringify(stats)}`);
    assert.equal(stats.lastError, null, `lastError of a ready page`);
  }
});

for (const [param, name] of [
  ['model', 'does-not-exist.glb'],
  ['manifest', 'broken-manifest.json'],
]) {
  test(`?${param}=${name} (missing) ends in a visible HTTP 404 error`, { timeout: TEST_TIMEOUT }, async (t) => {
    await withPage(`missing-${param}`, async (page) => {
      const s = await h.openTwin(page, app.server.url, `${param}=${name}`);
      t.diagnostic(JSON.stringify(s));
      assert.equal(s.state, 'error', `expected state "error", got ${JSON.stringify(s)}`);
      assert.ok(
        typeof s.lastError === 'string' && s.lastError.includes(name) && s.lastError.includes('404'),
        `lastError should name ${name} and 404: ${JSON.stringify(s.lastError)}`,
      );
      const status = page.locator('#status');
      assert.ok(await status.isVisible(), '#status is visible');
      const text = (await status.innerText()).replace(/\s+/g, ' ');
      assert.ok(text.includes(name), `#status names the URL: ${JSON.stringify(text)}`);
      assert.ok(text.includes('HTTP 404'), `#status says "HTTP 404": ${JSON.stringify(text)}`);
      assert.ok(
        await status.evaluate((el) => el.classList.contains('error')),
        `#status has class "error": class=${JSON.stringify(await status.getAttribute('class'))}`,
      );
      await h.sleep(300); // let a late exception surface
      assert.deepEqual(h.pageErrors(page), [], 'no uncaught exception in the page');
    });
  });
}

/** Centre of the canvas in page coordinates. */
async function canvasCentre(page) {
  const box = await page.locator('#twin-canvas').boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, `canvas box ${JSON.stringify(box)}`);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

test('left-drag orbits the model; an idle page renders nothing', { timeout: TEST_TIMEOUT }, async (t) => {
  await withPage('orbit', async (page) => {
    const ready = await openReady(page, `model=${BARE_MODEL}`);
    const before = await h.canvasPixels(page);
    save('orbit-before.png', before.png);

    const c = await canvasCentre(page);
    await page.mouse.move(c.x, c.y);
    await page.mouse.down();
    await page.mouse.move(c.x + 160, c.y + 40, { steps: 12 });
    await page.mouse.up();
    await h.waitForStats(page, (s) => s.frames > ready.frames, { what: 'a frame after the drag' });
    const settled = await h.waitForIdle(page);

    // Idle: no input for ~1 s, so no frame.
    await h.sleep(1000);
    const idle = await h.stats(page);
    assert.equal(idle.frames, settled.frames, `an idle page rendered ${idle.frames - settled.frames} frame(s) in 1 s`);

    const after = await h.canvasPixels(page);
    save('orbit-after.png', after.png);
    const diff = h.meanAbsDiff(before.image, after.image);
    t.diagnostic(`orbit: frames ${ready.frames} -> ${settled.frames}, mean |before - after| = ${diff.toFixed(3)}`);
    assert.ok(diff > ORBIT_MIN_DIFF, `the drag did not visibly orbit the model: mean diff ${diff.toFixed(3)} <= ${ORBIT_MIN_DIFF}`);
  });
});

test('wheel zooms out; "f" frames the model again', { timeout: TEST_TIMEOUT }, async (t) => {
  await withPage('frame', async (page) => {
    const ready = await openReady(page, `model=${BARE_MODEL}`);
    const first = await h.canvasPixels(page);
    const bg = h.cornerColor(first.image);
    const cov0 = h.coverage(first.image, bg);

    const c = await canvasCentre(page);
    await page.mouse.move(c.x, c.y);
    for (let i = 0; i < 6; i++) {
      await page.mouse.wheel(0, 200); // deltaY > 0: away from the model
      await h.sleep(30);
    }
    await h.waitForStats(page, (s) => s.frames > ready.frames, { what: 'a frame after the wheel' });
    const zoomed = await h.waitForIdle(page);
    const out = await h.canvasPixels(page);
    save('frame-zoomed-out.png', out.png);
    const cov1 = h.coverage(out.image, bg);
    assert.ok(cov1 < cov0 * 0.8, `wheel (deltaY > 0) should zoom out: coverage ${pct(cov0)} -> ${pct(cov1)}`);

    await page.locator('#twin-canvas').focus();
    await page.keyboard.press('f');
    await h.waitForStats(page, (s) => s.frames > zoomed.frames, { what: 'a frame after "f"' });
    await h.waitForIdle(page);
    const framed = await h.canvasPixels(page);
    save('frame-framed.png', framed.png);
    const cov2 = h.coverage(framed.image, bg);
    t.diagnostic(`coverage: initial ${pct(cov0)}, zoomed out ${pct(cov1)}, after "f" ${pct(cov2)}`);
    assert.ok(
      Math.abs(cov2 - cov0) <= 0.3 * cov0,
      `after "f" the model covers ${pct(cov2)}, initially ${pct(cov0)} (allowed ±30% relative)`,
    );
  });
});

const pct = (x) => `${(x * 100).toFixed(1)}%`;
