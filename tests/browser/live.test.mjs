// The demo twin against the reference server's simulated plant: every sensor of the demo
// manifest turns live with values inside its display range, without bad input.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const TEST_TIMEOUT = 150_000;

const app = h.useServerAndBrowser();

test('the demo shows live simulated values for every sensor', { timeout: TEST_TIMEOUT }, async () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(h.REPO_ROOT, 'www/demo/pump-skid.twin.json'), 'utf8'));
  await h.withPage(app.browser, 'live-1', async (page) => {
    const started = Date.now();
    const opened = await h.openTwin(page, app.server.url, '');
    assert.equal(opened.state, 'ready', JSON.stringify(opened));
    const s = await h.waitForStats(
      page,
      (st) => st.readings && Object.keys(st.readings).length > 0 && Object.values(st.readings).every((r) => r.state === 'live'),
      { what: 'every demo sensor live', timeoutMs: 30_000 },
    );
    console.log(`all ${Object.keys(s.readings).length} sensors live ${Date.now() - started} ms after navigation`);
    assert.equal(s.connection.status, 'live');
    assert.equal(s.connection.adapter, 'json');
    assert.deepEqual(Object.entries(s.connection.badInput).filter(([, n]) => n > 0), [], 'no bad input from the simulator');
    for (const sensor of manifest.sensors) {
      const r = s.readings[sensor.id];
      assert.ok(r, `${sensor.id} has a reading`);
      if (sensor.range) {
        assert.equal(typeof r.value, 'number', `${sensor.id}: ${JSON.stringify(r)}`);
        assert.ok(r.value >= sensor.range[0] && r.value <= sensor.range[1], `${sensor.id}=${r.value} outside ${sensor.range}`);
      }
    }
    // The feed keeps coming: updates grow.
    const before = s.readings[manifest.sensors[0].id].updates;
    await h.waitForStats(page, (st) => st.readings[manifest.sensors[0].id].updates > before + 2, { what: 'more updates' });
  });
});

test('the simulated bearing fault turns its part to warning, then alarm, then back', { timeout: TEST_TIMEOUT }, async () => {
  // A reference server with a 20 s fault cycle: healthy, developing, alarm, recovering.
  const sim = spawn(path.resolve(h.REPO_ROOT, process.env.TWINLENS_BIN || 'target/debug/twinlens'), [
    'serve', '--dir', h.distDir(), '--host', '127.0.0.1', '--port', '0', '--fault-period', '20', '--seed', '7',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  let stdout = '';
  sim.stdout.on('data', (d) => (stdout += d));
  const page = await h.newPage(app.browser);
  try {
    const deadline = Date.now() + 20_000;
    let url;
    while (!(url = stdout.match(/http:\/\/127\.0\.0\.1:\d+\//)?.[0])) {
      if (Date.now() > deadline || sim.exitCode !== null) throw new Error(`the fault server did not start: ${stdout}`);
      await h.sleep(100);
    }
    const opened = await h.openTwin(page, url, 'backend=webgl');
    assert.equal(opened.state, 'ready', JSON.stringify(opened));
    const bearing = (st) => st.labels?.find((l) => l.id === 'p101.pump.bearing_temp');
    const seen = [];
    for (const state of ['warning', 'alarm', 'normal']) {
      const st = await h.waitForStats(page, (x) => bearing(x)?.state === state, { what: `the bearing label in ${state}`, timeoutMs: 45_000 });
      seen.push(`${state} at ${bearing(st).value}`);
      if (state === 'alarm') h.saveArtifact('live-fault-alarm.png', (await h.canvasPixels(page)).png);
    }
    console.log(`bearing: ${seen.join(' → ')}`);
    assert.deepEqual(h.pageErrors(page), []);
  } catch (e) {
    throw h.withPageReport(e, page);
  } finally {
    await page.context().close().catch(() => {});
    sim.kill('SIGKILL');
  }
});
