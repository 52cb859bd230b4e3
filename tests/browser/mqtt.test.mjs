// Live data from a real Mosquitto broker (Debian package) over MQTT-over-WebSocket on loopback:
// retained values show at once, new publishes update stats(), a bad payload is counted without
// stopping other sensors, and a broker killed with SIGKILL and restarted is reconnected to with
// backoff, the retained state restored and readings marked as a lost connection while it was gone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 180_000;
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => fs.existsSync(p)) ?? 'mosquitto';
const TOPIC = 'twinlens-test/p101';

let broker;
let ports;
let dir;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts mosquitto with a TCP listener (for the publisher) and a WebSocket one (for the page). */
async function startBroker() {
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `persistence true`,
      `persistence_location ${dir}/`,
      // Save after every change, so retained messages survive a SIGKILL.
      `autosave_interval 1`,
      `autosave_on_changes true`,
      `listener ${ports.tcp} 127.0.0.1`,
      `protocol mqtt`,
      `listener ${ports.ws} 127.0.0.1`,
      `protocol websockets`,
      `allow_anonymous true`,
      '',
    ].join('\n'),
  );
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Ready when both listeners accept connections.
  const deadline = Date.now() + 10_000;
  for (const port of [ports.tcp, ports.ws]) {
    for (;;) {
      const ok = await new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.destroy();
          resolve(true);
        });
        sock.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`mosquitto did not start on ${port}: ${stderr}`);
      }
      await h.sleep(50);
    }
  }
  return child;
}

function publish(subtopic, message, { retain = true } = {}) {
  const args = ['-h', '127.0.0.1', '-p', String(ports.tcp), '-q', '1', '-t', `${TOPIC}/${subtopic}`, '-m', message];
  if (retain) args.push('-r');
  execFileSync('mosquitto_pub', args, { timeout: 10_000 });
}

function manifest() {
  return JSON.stringify({
    name: 'MQTT test twin',
    model: { url: '/demo/pump-skid.glb' },
    source: {
      url: `ws://127.0.0.1:${ports.ws}`,
      adapter: 'mqtt',
      clientId: 'twinlens-test-',
      keepAliveSeconds: 5,
      reconnect: { baseSeconds: 0.2, capSeconds: 1 },
      payload: { value: '/v', timestamp: '/t' },
    },
    sensors: [
      { id: 'temp', name: 'Motor temperature', node: 'Motor', unit: '°C', maxAgeSeconds: 2, binding: { topic: `${TOPIC}/motor/temp` } },
      { id: 'flow', name: 'Flow', node: 'FlowMeter', unit: 'm³/h', maxAgeSeconds: 2, binding: { topic: `${TOPIC}/flow` } },
      { id: 'door', name: 'Door', node: 'ControlPanel', maxAgeSeconds: 60, binding: { topic: `${TOPIC}/+/door` } },
    ],
  });
}

const app = h.useServerAndBrowser();

before(
  async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twinlens-mqtt-'));
    // Started as root, mosquitto drops to its own user, which must be able to save retained state.
    fs.chmodSync(dir, 0o777);
    ports = { tcp: await freePort(), ws: await freePort() };
    broker = await startBroker();
  },
  { timeout: 90_000 },
);

after(
  async () => {
    broker?.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  },
  { timeout: 30_000 },
);

async function openMqttTwin(page) {
  await page.route(`${app.server.url}fixtures/mqtt.twin.json`, (route) => route.fulfill({ status: 200, body: manifest() }));
  const s = await h.openTwin(page, app.server.url, 'manifest=fixtures/mqtt.twin.json');
  assert.equal(s.state, 'ready', JSON.stringify(s));
  return s;
}

const reading = (s, id) => s.readings?.[id];

test('retained values show at once, publishes update, bad payloads are counted', { timeout: TEST_TIMEOUT }, async () => {
  publish('motor/temp', JSON.stringify({ v: 71.5, t: Date.now() }));
  publish('flow', '88.25');
  publish('panel/door', 'false');
  await h.withPage(app.browser, 'mqtt-1', async (page) => {
    await openMqttTwin(page);
    let s = await h.waitForStats(page, (st) => st.connection?.status === 'live' && st.readings?.temp?.value === 71.5 && st.readings?.flow?.value === 88.25 && st.readings?.door?.value === false, {
      what: 'retained values from the broker',
      timeoutMs: 20_000,
    });
    assert.equal(reading(s, 'temp').state, 'live');

    publish('motor/temp', '{ broken json', { retain: false });
    publish('flow', '90.5', { retain: false });
    s = await h.waitForStats(page, (st) => st.readings?.flow?.value === 90.5, { what: 'a new flow value' });
    assert.equal(s.readings.temp.value, 71.5, 'a broken message leaves the last good value');
    // Text that is not a number is a text state, not an error; a JSON object without the value
    // pointer is bad input.
    publish('motor/temp', JSON.stringify({ nothing: 1 }), { retain: false });
    s = await h.waitForStats(page, (st) => Object.values(st.connection?.badInput ?? {}).some((n) => n > 0), {
      what: 'bad input counted',
    });
    assert.equal(s.connection.status, 'live', 'bad input does not drop the connection');
  });
});

test('a broker killed and restarted is reconnected to; readings show the lost connection meanwhile', { timeout: TEST_TIMEOUT }, async () => {
  publish('motor/temp', JSON.stringify({ v: 65, t: Date.now() }));
  publish('flow', '80');
  await h.withPage(app.browser, 'mqtt-2', async (page) => {
    await openMqttTwin(page);
    let s = await h.waitForStats(page, (st) => st.connection?.status === 'live' && st.readings?.temp?.value === 65, {
      what: 'live before the kill',
      timeoutMs: 20_000,
    });
    const connects = s.connection.connects;
    const flowUpdates = s.readings.flow.updates;

    broker.kill('SIGKILL');
    s = await h.waitForStats(page, (st) => ['reconnecting', 'connecting'].includes(st.connection?.status), {
      what: 'the page notices the broker is gone',
      timeoutMs: 20_000,
    });
    // From the moment the connection drops, no reading claims to be live: every one shows the
    // lost connection, keeping its last value and age, whatever its maximum age.
    s = await h.waitForStats(page, (st) => st.readings?.temp?.state === 'connectionLost' && st.readings?.flow?.state === 'connectionLost', {
      what: 'readings marked connection lost',
      timeoutMs: 5_000,
    });
    assert.equal(s.readings.temp.value, 65);
    assert.equal(s.readings.flow.value, 80);
    assert.ok(s.readings.temp.ageMs >= 0, JSON.stringify(s.readings.temp));

    broker = await startBroker();
    s = await h.waitForStats(page, (st) => st.connection?.status === 'live' && st.connection.connects > connects, {
      what: 'reconnected after the restart',
      timeoutMs: 30_000,
    });
    publish('motor/temp', JSON.stringify({ v: 66, t: Date.now() }));
    s = await h.waitForStats(page, (st) => st.readings?.temp?.value === 66 && st.readings.temp.state === 'live', {
      what: 'resubscribed: a new value arrives',
    });
    s = await h.waitForStats(page, (st) => st.readings?.flow?.state === 'live' && st.readings.flow.updates > flowUpdates, {
      what: 'the retained flow value delivered again by the restarted broker',
    });
    assert.equal(s.readings.flow.value, 80);
    assert.deepEqual(h.pageErrors(page), []);
  });
});

test('the reference server publishes the simulation to the broker; the MQTT demo manifest shows it', { timeout: TEST_TIMEOUT }, async () => {
  // A second reference server, publishing over MQTT (TCP) to the test broker.
  const sim = spawn(path.resolve(h.REPO_ROOT, process.env.TWINLENS_BIN || 'target/debug/twinlens'), [
    'serve', '--dir', h.distDir(), '--host', '127.0.0.1', '--port', '0', '--mqtt', `mqtt://127.0.0.1:${ports.tcp}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  sim.stderr.on('data', (d) => (stderr += d));
  const page = await h.newPage(app.browser);
  try {
    const deadline = Date.now() + 20_000;
    while (!stderr.includes('mqtt: publishing')) {
      if (Date.now() > deadline || sim.exitCode !== null) throw new Error(`the simulator did not publish: ${stderr}`);
      await h.sleep(100);
    }
    const demo = JSON.parse(fs.readFileSync(path.join(h.REPO_ROOT, 'www/demo/pump-skid.mqtt.twin.json'), 'utf8'));
    demo.source.url = `ws://127.0.0.1:${ports.ws}`;
    demo.model.url = '/demo/pump-skid.glb';
    await page.route(`${app.server.url}fixtures/sim-mqtt.twin.json`, (route) => route.fulfill({ status: 200, body: JSON.stringify(demo) }));
    const opened = await h.openTwin(page, app.server.url, 'manifest=fixtures/sim-mqtt.twin.json');
    assert.equal(opened.state, 'ready', JSON.stringify(opened));
    const s = await h.waitForStats(
      page,
      (st) => st.connection?.status === 'live' && demo.sensors.every((x) => st.readings?.[x.id]?.state === 'live'),
      { what: 'every demo sensor live over MQTT', timeoutMs: 30_000 },
    );
    for (const x of demo.sensors.filter((x) => x.range)) {
      const v = s.readings[x.id].value;
      assert.ok(v >= x.range[0] && v <= x.range[1], `${x.id}=${v}`);
    }
    assert.equal(s.connection.badInput.malformedMqtt, 0);
  } catch (e) {
    throw h.withPageReport(e, page);
  } finally {
    await page.context().close().catch(() => {});
    sim.kill('SIGKILL');
  }
});
