// The Ditto adapter in headless Chromium against a loopback server that speaks the documented
// Eclipse Ditto WebSocket protocol (/ws/2, access_token query parameter, START-SEND-EVENTS and
// its ACK, Ditto Protocol envelopes). Ditto itself needs Docker, which this machine lacks.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { WebSocketServer } from 'ws';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 150_000;
const TOKEN = 'test-jwt.abc.def';
const THING = 'org.acme:pump-101';

let ditto;

/** A minimal Ditto: checks the token on upgrade, acks START-SEND-EVENTS, then emits events. */
function startDitto() {
  const state = { connections: 0, refused: 0, subscriptions: [], sockets: new Set() };
  const httpServer = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  httpServer.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/ws/2' || url.searchParams.get('access_token') !== TOKEN) {
      state.refused += 1;
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.connections += 1;
      state.sockets.add(ws);
      ws.on('close', () => state.sockets.delete(ws));
      ws.on('message', (data, isBinary) => {
        const text = data.toString();
        if (isBinary || !text.startsWith('START-SEND-EVENTS')) return;
        state.subscriptions.push(text);
        ws.send('START-SEND-EVENTS:ACK');
        const [ns, name] = THING.split(':');
        const envelope = (action, path, value) =>
          JSON.stringify({
            topic: `${ns}/${name}/things/twin/events/${action}`,
            headers: { 'content-type': 'application/json' },
            path,
            value,
            revision: 7,
            timestamp: new Date().toISOString(),
          });
        ws.send(envelope('modified', '/features/motor/properties/temperature', 72.5));
        ws.send(envelope('merged', '/features/pump', { properties: { pressure: 6.25, running: true } }));
        ws.send('this is not a Ditto message');
        ws.send(envelope('modified', '/features/motor/properties/temperature', 'NaN-ish text is a state'));
      });
    });
  });
  return new Promise((resolve) => {
    httpServer.listen(0, '127.0.0.1', () => {
      const { port } = httpServer.address();
      resolve({
        port,
        state,
        stop: () =>
          new Promise((r) => {
            for (const ws of state.sockets) ws.terminate();
            wss.close();
            httpServer.close(() => r());
          }),
      });
    });
  });
}

function manifest(token) {
  return JSON.stringify({
    name: 'Ditto test twin',
    model: { url: '/demo/pump-skid.glb' },
    source: {
      url: `ws://127.0.0.1:${ditto.port}/ws/2`,
      adapter: 'ditto',
      credentials: { token },
      reconnect: { baseSeconds: 0.5, capSeconds: 2 },
      ditto: { namespaces: ['org.acme'], filter: 'exists(features/motor)' },
    },
    sensors: [
      { id: 'temp', name: 'Motor temperature', node: 'Motor', binding: { thing: THING, path: 'features/motor/properties/temperature' } },
      { id: 'pressure', name: 'Pressure', node: 'Pump', binding: { thing: THING, path: 'features/pump/properties/pressure' } },
      { id: 'running', name: 'Running', node: 'Pump', binding: { thing: THING, path: '/features/pump/properties/running' } },
    ],
  });
}

const app = h.useServerAndBrowser();

before(
  async () => {
    ditto = await startDitto();
  },
  { timeout: 90_000 },
);

after(
  async () => {
    await ditto?.stop();
  },
  { timeout: 30_000 },
);

async function open(page, token) {
  await page.route(`${app.server.url}fixtures/ditto.twin.json`, (route) => route.fulfill({ status: 200, body: manifest(token) }));
  const s = await h.openTwin(page, app.server.url, 'manifest=fixtures/ditto.twin.json');
  assert.equal(s.state, 'ready', JSON.stringify(s));
}

test('events from Ditto reach the bound sensors; junk is counted', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'ditto-1', async (page) => {
    await open(page, TOKEN);
    const s = await h.waitForStats(
      page,
      (st) => st.readings?.pressure?.value === 6.25 && st.readings?.running?.value === true && st.readings?.temp?.updates >= 1,
      { what: 'values from modified and merged events', timeoutMs: 20_000 },
    );
    assert.equal(s.connection.status, 'live');
    assert.ok(!s.connection.url.includes(TOKEN), `the token is not shown: ${s.connection.url}`);
    const sub = ditto.state.subscriptions.at(-1);
    assert.match(sub, /^START-SEND-EVENTS\?/);
    assert.match(sub, /namespaces=org\.acme/);
    assert.match(sub, /filter=exists%28features%2Fmotor%29|filter=exists\(features%2Fmotor\)|filter=exists\(features\/motor\)/);
    await h.waitForStats(page, (st) => (st.connection?.badInput?.malformedDitto ?? 0) >= 1, { what: 'junk counted' });
  });
});

test('a refused token is retried with backoff, not in a tight loop', { timeout: TEST_TIMEOUT }, async () => {
  await h.withPage(app.browser, 'ditto-2', async (page) => {
    const before = ditto.state.refused;
    await open(page, 'wrong-token');
    await h.sleep(4000);
    const s = await h.stats(page);
    const attempts = ditto.state.refused - before;
    assert.ok(attempts >= 2, `it retries (${attempts} attempts)`);
    // base 0.5 s, cap 2 s, full jitter: a tight loop would make hundreds in 4 s.
    assert.ok(attempts <= 20, `${attempts} attempts in 4 s is a tight loop`);
    assert.notEqual(s.connection.status, 'live');
    assert.ok(!JSON.stringify(s).includes('wrong-token'), 'the token never appears in stats');
  });
});
