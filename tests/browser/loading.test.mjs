// Loading in headless Chromium: broken twin files are explained on the page with their URL, a
// .gltf with an external buffer loads, download progress is reported, and the drawing buffer
// follows the canvas size and devicePixelRatio. Fixture files are answered by the browser's
// request interception on the app's own origin; everything else comes from the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 150_000;

/** Runs `fn(page)` on a fresh page whose `fixtures/<name>` requests answer with `files[name]`. */
async function withFixtures(files, fn, contextOptions = {}) {
  const context = await app.browser.newContext({ viewport: h.VIEWPORT, deviceScaleFactor: 1, ...contextOptions });
  const page = await context.newPage();
  h.watchPage(page);
  page.setDefaultTimeout(30_000);
  await page.route(`${app.server.url}fixtures/**`, (route) => {
    const name = new URL(route.request().url()).pathname.replace(/^\/fixtures\//, '');
    const body = files[name];
    if (body === undefined) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ status: 200, body: Buffer.isBuffer(body) ? body : Buffer.from(body) });
  });
  try {
    return await fn(page);
  } catch (e) {
    throw h.withPageReport(e, page);
  } finally {
    await context.close().catch(() => {});
  }
}

/** Opens the page and expects state "error"; returns [stats, visible status text]. */
async function expectError(page, query) {
  const s = await h.openTwin(page, app.server.url, query);
  assert.equal(s.state, 'error', `?${query}: expected an error, got ${JSON.stringify(s)}`);
  const status = page.locator('#status');
  assert.ok(await status.isVisible(), '#status is visible');
  assert.match((await status.getAttribute('class')) ?? '', /\berror\b/);
  assert.deepEqual(h.pageErrors(page), [], 'no uncaught exception');
  return [s, await status.innerText()];
}

/** A one-triangle glTF whose buffer lives in an external file. */
function triangleGltf(bufferUri) {
  const positions = new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]);
  const bin = Buffer.from(positions.buffer);
  const gltf = {
    asset: { version: '2.0' },
    scene: 0,
    scenes: [{ nodes: [0] }],
    nodes: [{ name: 'Triangle', mesh: 0 }],
    meshes: [{ primitives: [{ attributes: { POSITION: 0 } }] }],
    buffers: [{ uri: bufferUri, byteLength: bin.length }],
    bufferViews: [{ buffer: 0, byteLength: bin.length }],
    accessors: [{ bufferView: 0, componentType: 5126, count: 3, type: 'VEC3', min: [0, 0, 0], max: [1, 1, 0] }],
  };
  return { json: JSON.stringify(gltf), bin };
}

const app = h.useServerAndBrowser();

test('a manifest that is not JSON is reported with its URL and the parse error', { timeout: TEST_TIMEOUT }, () =>
  withFixtures({ 'bad.twin.json': '{"name": "Pump", "model": ' }, async (page) => {
    const [s, text] = await expectError(page, 'manifest=fixtures/bad.twin.json');
    assert.match(s.lastError, /fixtures\/bad\.twin\.json/);
    assert.match(s.lastError, /not valid JSON/);
    assert.match(text, /bad\.twin\.json/);
  }));

test('a manifest with a wrong type names the field', { timeout: TEST_TIMEOUT }, () =>
  withFixtures({ 'typed.twin.json': '{"name": "Pump", "model": {"url": 42}}' }, async (page) => {
    const [s] = await expectError(page, 'manifest=fixtures/typed.twin.json');
    assert.match(s.lastError, /typed\.twin\.json: model\.url: invalid type/);
  }));

test('a corrupt GLB is reported with its URL and what is wrong', { timeout: TEST_TIMEOUT }, () => {
  const glb = Buffer.alloc(40);
  glb.write('glTF', 0, 'latin1');
  glb.writeUInt32LE(2, 4);
  glb.writeUInt32LE(4000, 8); // declared length far past the real 40 bytes
  return withFixtures({ 'broken.glb': glb }, async (page) => {
    const [s, text] = await expectError(page, 'model=fixtures/broken.glb');
    assert.match(s.lastError, /fixtures\/broken\.glb/);
    assert.match(s.lastError, /GLB/);
    assert.match(text, /broken\.glb/);
  });
});

test('a sensor bound to a missing node is named while the model still renders', { timeout: TEST_TIMEOUT }, () => {
  const demo = JSON.parse(fs.readFileSync(path.join(h.REPO_ROOT, 'www/demo/pump-skid.twin.json'), 'utf8'));
  demo.model.url = '/demo/pump-skid.glb';
  demo.sensors[0].node = 'Motor_02';
  return withFixtures({ 'typo.twin.json': JSON.stringify(demo) }, async (page) => {
    const s = await h.openTwin(page, app.server.url, 'manifest=fixtures/typo.twin.json');
    assert.equal(s.state, 'ready', JSON.stringify(s));
    assert.ok(s.frames >= 1);
    assert.equal(s.sensorsBound, demo.sensors.length - 1);
    assert.match(s.lastError, /sensors\[0\]\.node: no node "Motor_02" in pump-skid\.glb \(closest: "Motor"\)/);
    assert.match(await page.locator('#status').innerText(), /Motor_02/);
  });
});

test('a .gltf with an external buffer loads the buffer beside it', { timeout: TEST_TIMEOUT }, () => {
  const { json, bin } = triangleGltf('triangle.bin');
  return withFixtures({ 'triangle.gltf': json, 'triangle.bin': bin }, async (page) => {
    const s = await h.openTwin(page, app.server.url, 'model=fixtures/triangle.gltf');
    assert.equal(s.state, 'ready', JSON.stringify(s));
    assert.equal(s.triangles, 1);
    assert.equal(s.nodes, 1);
  });
});

test('a .gltf whose external buffer is missing names the buffer URL', { timeout: TEST_TIMEOUT }, () => {
  const { json } = triangleGltf('gone.bin');
  return withFixtures({ 'orphan.gltf': json }, async (page) => {
    const [s] = await expectError(page, 'model=fixtures/orphan.gltf');
    assert.match(s.lastError, /HTTP 404/);
    assert.match(s.lastError, /fixtures\/gone\.bin/);
  });
});

test('download progress reaches the model size', { timeout: TEST_TIMEOUT }, () =>
  withFixtures({}, async (page) => {
    const size = fs.statSync(path.join(h.distDir(), 'demo', 'pump-skid.glb')).size;
    const s = await h.openTwin(page, app.server.url, '');
    assert.equal(s.state, 'ready');
    assert.equal(s.bytesLoaded, size);
    assert.equal(s.bytesTotal, size);
    assert.ok(s.firstFrameMs > 0, 'first frame time is measured');
    console.log(`first frame after ${s.firstFrameMs.toFixed(0)} ms on ${s.backend}`);
  }));

test('the drawing buffer follows the canvas size and devicePixelRatio', { timeout: TEST_TIMEOUT }, () =>
  withFixtures(
    {},
    async (page) => {
      let s = await h.openTwin(page, app.server.url, '');
      assert.equal(s.state, 'ready');
      assert.equal(s.canvasWidth, h.VIEWPORT.width * 2);
      assert.equal(s.canvasHeight, h.VIEWPORT.height * 2);
      const frames = s.frames;
      await page.setViewportSize({ width: 500, height: 400 });
      s = await h.waitForStats(page, (st) => st.canvasWidth === 1000 && st.canvasHeight === 800, {
        what: 'a 1000×800 drawing buffer after resizing to 500×400 CSS px at DPR 2',
      });
      assert.ok(s.frames > frames, 'a resize renders a new frame');
      assert.equal(s.lastError, null);
    },
    { deviceScaleFactor: 2 },
  ));
