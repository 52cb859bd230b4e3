// Sensor overlays in headless Chromium, fed by a JSON WebSocket source on loopback: labels carry
// the values stats() reports, an alarm value recolours its part on screen, a stopped feed turns
// labels stale within the maximum age, and names outside Latin-1 render without error.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 180_000;
const EXOTIC = 'Réservoir – Ωμέγα 温度';

let feed;

/** A JSON source: every connected page gets whatever `send` is given. */
function startFeed() {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const clients = new Set();
    let last = null;
    wss.on('connection', (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      if (last) ws.send(last);
    });
    wss.on('listening', () =>
      resolve({
        port: wss.address().port,
        send(readings) {
          const t = Date.now();
          last = JSON.stringify({ readings: readings.map(([id, v]) => ({ id, v, t })) });
          for (const ws of clients) ws.send(last);
        },
        close: () => new Promise((r) => {
          for (const ws of clients) ws.terminate();
          wss.close(() => r());
        }),
      }),
    );
  });
}

function manifest() {
  return JSON.stringify({
    name: 'Overlay test twin',
    model: { url: '/demo/pump-skid.glb' },
    source: {
      url: `ws://127.0.0.1:${feed.port}/`,
      adapter: 'json',
      payload: { readings: '/readings', id: '/id', value: '/v', timestamp: '/t' },
    },
    sensors: [
      {
        id: 'motor.temp', name: 'Motor winding temperature', node: 'Motor', unit: '°C', range: [0, 160],
        warning: { above: 110 }, alarm: { above: 130 }, maxAgeSeconds: 3,
        display: { coloring: 'replace', priority: 10 },
      },
      { id: 'tank.level', name: EXOTIC, node: 'Tank', unit: '%', range: [0, 100], maxAgeSeconds: 3 },
    ],
  });
}

const app = h.useServerAndBrowser();

before(
  async () => {
    feed = await startFeed();
  },
  { timeout: 90_000 },
);

after(
  async () => {
    await feed?.close();
  },
  { timeout: 30_000 },
);

const label = (s, id) => s.labels?.find((l) => l.id === id);

/** Mean of (red - green) over a box of the canvas screenshot: how red the area looks. */
function redness(image, cx, cy, half = 18) {
  let sum = 0;
  let n = 0;
  for (let y = Math.max(0, Math.round(cy - half)); y < Math.min(image.height, Math.round(cy + half)); y++) {
    for (let x = Math.max(0, Math.round(cx - half)); x < Math.min(image.width, Math.round(cx + half)); x++) {
      const i = (y * image.width + x) * 4;
      sum += image.data[i] - image.data[i + 1];
      n++;
    }
  }
  return n ? sum / n : 0;
}

test('labels show live values, alarms recolour the part, a stopped feed goes stale', { timeout: TEST_TIMEOUT }, async (t) => {
  await h.withPage(app.browser, 'overlay-1', async (page) => {
    await page.route(`${app.server.url}fixtures/overlay.twin.json`, (route) => route.fulfill({ status: 200, body: manifest() }));
    feed.send([['motor.temp', 72.5], ['tank.level', 64.25]]);
    const opened = await h.openTwin(page, app.server.url, 'backend=webgl&manifest=fixtures/overlay.twin.json');
    assert.equal(opened.state, 'ready', JSON.stringify(opened));

    // Labels carry the values that stats() reports.
    let s = await h.waitForStats(page, (st) => label(st, 'motor.temp')?.value?.startsWith('72.5') && label(st, 'motor.temp').visible, {
      what: 'the motor label showing 72.5',
    });
    const motor = label(s, 'motor.temp');
    assert.equal(s.readings['motor.temp'].value, 72.5);
    assert.equal(motor.value, '72.5 °C');
    assert.equal(motor.state, 'normal');
    assert.ok(s.labelsDrawn >= 1, `labels drawn: ${s.labelsDrawn}`);
    assert.ok(s.overlayDrawCalls >= 1 && s.overlayDrawCalls <= 3, `overlay draw calls ${s.overlayDrawCalls}`);
    const normal = await h.canvasPixels(page);
    h.saveArtifact('overlay-normal.png', normal.png);
    const exotic = label(s, 'tank.level');
    assert.equal(exotic.title, EXOTIC);
    assert.match(exotic.value, /^64\.[23]%$/, "one decimal for a 0..100 range; no space before %");
    assert.deepEqual(h.pageErrors(page), [], 'a name outside Latin-1 renders without error');

    // An alarm value recolours the motor (coloring: replace) on screen.
    assert.ok(motor.anchor, 'the motor anchor is on screen');
    const [ax, ay] = motor.anchor;
    feed.send([['motor.temp', 150], ['tank.level', 64.25]]);
    s = await h.waitForStats(page, (st) => label(st, 'motor.temp')?.state === 'alarm', { what: 'the motor in alarm' });
    assert.equal(label(s, 'motor.temp').value, '150.0 °C');
    await h.sleep(300);
    const alarm = await h.canvasPixels(page);
    h.saveArtifact('overlay-alarm.png', alarm.png);
    // The part below its anchor (the label sits above it).
    const before = redness(normal.image, ax, ay + 40);
    const after = redness(alarm.image, ax, ay + 40);
    t.diagnostic(`redness of the motor: ${before.toFixed(1)} -> ${after.toFixed(1)}`);
    assert.ok(after - before > 25, `the motor did not turn red: ${before.toFixed(1)} -> ${after.toFixed(1)}`);

    // The feed stops: within the 3 s maximum age (plus the 1 s tick) the labels turn stale.
    s = await h.waitForStats(page, (st) => label(st, 'motor.temp')?.state === 'stale' && label(st, 'tank.level')?.state === 'stale', {
      what: 'stale labels after the feed stopped',
      timeoutMs: 10_000,
    });
    assert.match(label(s, 'motor.temp').detail ?? '', /stale/);
    assert.equal(label(s, 'motor.temp').value, '150.0 °C', 'a stale label keeps its last value');
    const stale = await h.canvasPixels(page);
    h.saveArtifact('overlay-stale.png', stale.png);
    assert.deepEqual(h.pageErrors(page), []);
  });
});

test('a click on a label or its part opens the detail card; a click on nothing closes it', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'overlay-2', async (page) => {
    await page.route(`${app.server.url}fixtures/overlay.twin.json`, (route) => route.fulfill({ status: 200, body: manifest() }));
    feed.send([['motor.temp', 70], ['tank.level', 50]]);
    await h.openTwin(page, app.server.url, 'backend=webgl&manifest=fixtures/overlay.twin.json');
    feed.send([['motor.temp', 75], ['tank.level', 50]]);
    const s = await h.waitForStats(page, (st) => label(st, 'motor.temp')?.visible && label(st, 'motor.temp').value.startsWith('75'), {
      what: 'the motor label',
    });
    const box = await page.locator('#twin-canvas').boundingBox();
    const motor = label(s, 'motor.temp');
    const card = page.locator('#detail');
    assert.equal(await card.isVisible(), false, 'no card before a selection');

    await page.mouse.click(box.x + motor.x, box.y + motor.y);
    await card.waitFor({ state: 'visible', timeout: 10_000 });
    let text = await card.innerText();
    assert.match(text, /Motor winding temperature \(motor\.temp\)/);
    assert.match(text, /75(\.0)? °C/);
    // Readings within one history bucket (1 s) keep only the newest, so the minimum may be 75.
    assert.match(text, /min (70|75)(\.0)? °C · max 75(\.0)? °C/);
    assert.match(text, /warning at ≥ 110(\.0)? °C/);
    assert.match(text, /alarm at ≥ 130(\.0)? °C/);
    assert.match(text, /source: json ws:\/\/127\.0\.0\.1/);

    await page.mouse.click(box.x + 5, box.y + 5);
    await card.waitFor({ state: 'hidden', timeout: 10_000 });

    // The part itself (below its anchor) selects the sensor bound to it.
    const [ax, ay] = motor.anchor;
    await page.mouse.click(box.x + ax, box.y + ay + 40);
    await card.waitFor({ state: 'visible', timeout: 10_000 });
    text = await card.innerText();
    assert.match(text, /motor\.temp/);
    assert.deepEqual(h.pageErrors(page), []);
  });
});
