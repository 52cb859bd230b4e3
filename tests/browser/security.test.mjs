// Trusting the twin, in headless Chromium against `twinlens serve`: a manifest or a live source
// from another origin is refused with the reason before any request or socket leaves the page;
// markup from a manifest or a feed renders as text; no credential appears in any text the page
// shows or reports; and the page runs under the server's Content-Security-Policy without a
// violation (the harness fails every browser test file that sees one).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { WebSocketServer } from 'ws';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 120_000;
const SECRET = 'hunter2-S3cr3t';

// The app server allows live sources on 127.0.0.1 (the harness default); `strict` allows none.
const app = h.useServerAndBrowser();
let strict;
let foreign;
let feed;

/** A server on another port (another origin) that counts every request and socket. */
function startForeign() {
  return new Promise((resolve) => {
    const seen = { requests: [], sockets: 0 };
    const server = http.createServer((req, res) => {
      seen.requests.push(req.url);
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify({ name: 'Forged twin', model: { url: 'forged.glb' }, sensors: [] }));
    });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
      seen.sockets += 1;
      ws.send(JSON.stringify({ readings: [{ id: 'p', v: 'all normal', t: Date.now() }] }));
    });
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        seen,
        close: () => new Promise((r) => {
          for (const ws of wss.clients) ws.terminate();
          server.close(() => r());
        }),
      }),
    );
  });
}

/** A JSON feed that sends `frames` to every client and can close them with a code and reason. */
function startFeed() {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    let last = null;
    wss.on('connection', (ws) => {
      if (last) ws.send(last);
    });
    wss.on('listening', () =>
      resolve({
        port: wss.address().port,
        send(readings) {
          last = JSON.stringify({ readings: readings.map(([id, v]) => ({ id, v, t: Date.now() })) });
          for (const ws of wss.clients) ws.send(last);
        },
        closeAll(code, reason) {
          last = null;
          for (const ws of wss.clients) ws.close(code, reason);
        },
        close: () => new Promise((r) => {
          for (const ws of wss.clients) ws.terminate();
          wss.close(() => r());
        }),
      }),
    );
  });
}

before(
  async () => {
    strict = await h.startServer({ allowLive: [] });
    foreign = await startForeign();
    feed = await startFeed();
  },
  { timeout: 60_000 },
);

after(
  async () => {
    await strict?.stop();
    await foreign?.close();
    await feed?.close();
  },
  { timeout: 30_000 },
);

/** Every URL the page requested and every socket it opened. */
function recordTraffic(page) {
  const traffic = { requests: [], sockets: [] };
  page.on('request', (r) => traffic.requests.push(r.url()));
  page.on('websocket', (ws) => traffic.sockets.push(ws.url()));
  return traffic;
}

/**
 * Everything the page shows or reports, as one text: stats, the page's text (hidden parts too),
 * the console. Left out: the browser's own network log line for a socket that failed, which
 * quotes the URL the page opened (a Ditto token must be in it; browsers offer no other way).
 */
async function everythingShown(page) {
  const s = await h.stats(page);
  const text = await page.evaluate(() => document.body.innerText + '\n' + [...document.querySelectorAll('[hidden], details p')].map((e) => e.textContent).join('\n'));
  const browserNetLog = /^\[error\] WebSocket connection to '.*' failed: /;
  const report = h.pageReport(page).split('\n').filter((l) => !browserNetLog.test(l)).join('\n');
  return `${JSON.stringify(s)}\n${text}\n${report}`;
}

test('a manifest from another origin is refused in words and no request leaves the page', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'security-1', async (page) => {
    const traffic = recordTraffic(page);
    const url = `http://127.0.0.1:${foreign.port}/m.twin.json`;
    const s = await h.openTwin(page, app.server.url, `manifest=${encodeURIComponent(url)}`);
    assert.equal(s.state, 'error', JSON.stringify(s));
    assert.match(s.lastError, /refused to open the manifest at http:\/\/127\.0\.0\.1:\d+\/m\.twin\.json/);
    assert.match(s.lastError, /manifestOrigins/);
    assert.match(await page.locator('#status').innerText(), /refused to open the manifest/);
    assert.deepEqual(foreign.seen.requests, [], 'the foreign server got no request');
    assert.deepEqual(traffic.requests.filter((u) => u.includes(`:${foreign.port}`)), []);
  });
});

test('a same-origin manifest URL that redirects to another origin is refused', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'security-2', async (page) => {
    const foreignUrl = `http://127.0.0.1:${foreign.port}/m.twin.json`;
    await page.route(`${app.server.url}fixtures/redirect.twin.json`, (r) => r.fulfill({ status: 302, headers: { location: foreignUrl } }));
    const s = await h.openTwin(page, app.server.url, 'manifest=fixtures/redirect.twin.json');
    assert.equal(s.state, 'error', JSON.stringify(s));
    assert.match(s.lastError, /twin manifest: /);
    assert.doesNotMatch(s.lastError, /Forged twin/);
    assert.deepEqual(foreign.seen.requests, [], 'the foreign server got no request');
    // The server's CSP stopped the redirect in the browser (the page checks the final URL too).
    const blocked = h.expectedCspViolations(page);
    assert.ok(blocked.some((v) => v.includes(`127.0.0.1:${foreign.port}`) && v.includes('connect-src')), blocked.join('\n'));
  });
});

test('a live source the site does not allow is refused in words, no socket opens, the model shows', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'security-3', async (page) => {
    const traffic = recordTraffic(page);
    const manifest = {
      name: 'Foreign source',
      model: { url: '/demo/pump-skid.glb' },
      source: { url: `ws://127.0.0.1:${foreign.port}/`, adapter: 'json', onOpen: '{"cmd":"forged"}' },
      sensors: [{ id: 'p', name: 'Pressure', node: 'Motor' }],
    };
    await page.route(`${strict.url}fixtures/foreign-source.twin.json`, (r) => r.fulfill({ status: 200, body: JSON.stringify(manifest) }));
    const s = await h.openTwin(page, strict.url, 'manifest=fixtures/foreign-source.twin.json');
    assert.equal(s.state, 'ready', 'the model still shows');
    assert.match(s.lastError, /live data: refused to open the live data source at ws:\/\/127\.0\.0\.1:\d+\//);
    assert.match(s.lastError, /liveSources/);
    assert.equal(s.connection, null, 'no connection was started');
    await h.sleep(500);
    assert.equal(foreign.seen.sockets, 0, 'the foreign server saw no socket');
    assert.deepEqual(traffic.sockets, []);
  });
});

test('markup in a sensor name, unit, text value and close reason renders as text', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'security-4', async (page) => {
    const name = '<b id="x-name">Motor</b><script>window.__pwned = 1</script>';
    const unit = '<i id="x-unit">°C</i>';
    const textValue = '<img id="x-value" src="x" onerror="window.__pwned = 2">';
    const reason = '<img id="x-reason" src="y" onerror="window.__pwned = 3">';
    const manifest = {
      name: '<u id="x-twin">Twin</u>',
      model: { url: '/demo/pump-skid.glb' },
      source: { url: `ws://127.0.0.1:${feed.port}/`, adapter: 'json', payload: { readings: '/readings', id: '/id', value: '/v', timestamp: '/t' } },
      sensors: [
        { id: 'motor.temp', name, node: 'Motor', unit, range: [0, 160] },
        { id: 'motor.mode', name: 'Mode', node: 'Tank' },
      ],
    };
    await page.route(`${app.server.url}fixtures/markup.twin.json`, (r) => r.fulfill({ status: 200, body: JSON.stringify(manifest) }));
    feed.send([['motor.temp', 70], ['motor.mode', textValue]]);
    await h.openTwin(page, app.server.url, 'backend=webgl&manifest=fixtures/markup.twin.json');
    feed.send([['motor.temp', 71], ['motor.mode', textValue]]);
    let s = await h.waitForStats(page, (st) => st.readings?.['motor.mode']?.value === textValue && st.labels?.find((l) => l.id === 'motor.temp')?.visible, {
      what: 'both readings and a visible motor label',
    });
    const motor = s.labels.find((l) => l.id === 'motor.temp');
    const box = await page.locator('#twin-canvas').boundingBox();
    await page.mouse.click(box.x + motor.x, box.y + motor.y);
    const card = page.locator('#detail');
    await card.waitFor({ state: 'visible', timeout: 10_000 });
    const text = await card.innerText();
    assert.ok(text.includes(name), `the name shows as text: ${text}`);
    assert.ok(text.includes('°C'), text);

    // The feed closes the socket with markup in the reason; the page shows it as text.
    feed.closeAll(4001, reason);
    s = await h.waitForStats(page, (st) => st.connection?.label?.includes(reason), { what: 'the close reason in the connection label' });
    const label = page.locator('#detail');
    await page.mouse.click(box.x + motor.x, box.y + motor.y);
    await label.waitFor({ state: 'visible', timeout: 10_000 });

    const injected = await page.evaluate(() => ({
      pwned: window.__pwned ?? null,
      elements: ['x-name', 'x-unit', 'x-value', 'x-reason', 'x-twin'].filter((id) => document.getElementById(id)),
      scripts: document.querySelectorAll('#detail *, #status *, #xr-hud *:not(button):not(div):not(p)').length,
    }));
    assert.deepEqual(injected, { pwned: null, elements: [], scripts: 0 }, 'no markup became elements');
    assert.deepEqual(h.pageErrors(page), []);
  });
});

const secretCases = [
  {
    what: 'an invalid socket URL carrying a password',
    source: { url: `ws://ops:${SECRET}@[not-an-address/ws`, adapter: 'json' },
    state: 'ready',
    error: /live data: /,
  },
  {
    what: 'a numeric password (a credential of the wrong JSON type)',
    source: { url: 'ws://127.0.0.1:1/', adapter: 'mqtt', credentials: { username: 'ops', password: 73915502 } },
    secret: '73915502',
    state: 'error',
    error: /source\.credentials\.password/,
  },
  {
    what: 'a user-info URL',
    source: { url: `ws://ops:${SECRET}@127.0.0.1:1/ws`, adapter: 'json' },
    state: 'ready',
    error: /source\.credentials/,
  },
  {
    what: 'a socket URL with token and key queries that fails to connect',
    source: { url: `ws://127.0.0.1:1/ws?access_token=${SECRET}x&apikey=${SECRET}y`, adapter: 'json' },
    state: 'ready',
    label: /access_token=\*\*\*&apikey=\*\*\*/,
  },
  {
    what: 'a Ditto token',
    source: { url: 'ws://127.0.0.1:1/ws/2', adapter: 'ditto', credentials: { token: SECRET } },
    binding: { thing: 'org.acme:pump-101', path: 'features/motor/properties/temperature' },
    state: 'ready',
    label: /access_token=\*\*\*/,
  },
];

for (const c of secretCases) {
  test(`no credential is shown or reported after ${c.what}`, { timeout: TEST_TIMEOUT }, async () => {
    await h.withPage(app.browser, 'security-5', async (page) => {
      const manifest = {
        name: 'Secrets',
        model: { url: '/demo/pump-skid.glb' },
        source: c.source,
        sensors: [{ id: 'p', name: 'Pressure', node: 'Motor', ...(c.binding ? { binding: c.binding } : {}) }],
      };
      await page.route(`${app.server.url}fixtures/secret.twin.json`, (r) => r.fulfill({ status: 200, body: JSON.stringify(manifest) }));
      let s = await h.openTwin(page, app.server.url, 'manifest=fixtures/secret.twin.json');
      assert.equal(s.state, c.state, JSON.stringify(s));
      if (c.error) assert.match(s.lastError ?? '', c.error);
      if (c.label) {
        // A connection attempt fails and is reported, its URL masked.
        s = await h.waitForStats(page, (st) => c.label.test(st.connection?.label ?? ''), { what: 'the masked URL in the connection label' });
      }
      const shown = await everythingShown(page);
      const secret = c.secret ?? SECRET;
      assert.ok(!shown.includes(secret), `${c.what}: the secret appears in:\n${shown}`);
      assert.ok(!shown.includes(encodeURIComponent(secret)), `${c.what}: the encoded secret appears`);
    });
  });
}

test('the demo twin runs live under the CSP without a violation', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'security-6', async (page) => {
    const response = await page.goto(app.server.url, { waitUntil: 'load' });
    const csp = response.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/);
    await h.waitForStats(page, (st) => st.state === 'ready' && st.connection?.status === 'live', { what: 'the demo live', timeoutMs: 60_000 });
    assert.deepEqual(h.cspViolations(page), []);
    assert.deepEqual(h.pageErrors(page), []);
  });
});
