#!/usr/bin/env node
// The benchmark feed: a WebSocket server on loopback that sends every sensor of a manifest a new
// reading at a fixed rate, as JSON text frames
//   {"readings":[{"id":"plant.u0001.s0","v":42.17,"t":1767225600123}, ...]}
// (the shape of the manifest's `source.payload` pointers /readings, /id, /v, /t).
//
//   node bench/feed.mjs --manifest bench/generated/plant-10k.twin.json [--port 0] [--hz 10]
//                       [--batch 1000] [--max-seconds 3600]
//
// Prints `feed: listening ws://127.0.0.1:<port>/` once ready, and a JSON line of counters on
// exit (SIGTERM/SIGINT, or after --max-seconds: the feed never outlives a forgotten run).
//
// Each tick (1/hz s) every sensor gets one reading; readings go out in frames of --batch, all
// frames of a tick at once. Values follow a bounded random walk in 0..100 (warning above 80,
// alarm above 95 in the generated manifests), so a few labels change state all the time.
// A client that does not keep up (more than 16 MB queued) skips ticks; skipped ticks are
// counted, never buffered without bound.
//
// As a module: `startFeed({ ids, port, hz, batch })` resolves to `{ url, port, stats(), close() }`.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const MAX_QUEUED_BYTES = 16 << 20;

/** Deterministic generator (mulberry32) so runs send the same values. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sensorIds(manifestPath) {
  const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  return (m.sensors || []).map((s) => (s.binding && s.binding.key) || s.id);
}

export function startFeed({ ids, host = '127.0.0.1', port = 0, hz = 10, batch = 1000, seed = 1 }) {
  if (!ids || ids.length === 0) throw new Error('feed: no sensor ids');
  if (!(hz > 0 && hz <= 100)) throw new Error(`feed: --hz ${hz} out of range (0, 100]`);
  const random = rng(seed);
  // Every sensor wanders around its own level; about 1 in 50 sits near the alarm band.
  const level = ids.map((_, i) => (i % 50 === 0 ? 90 : 20 + 50 * random()));
  const value = level.slice();
  const quoted = ids.map((id) => JSON.stringify(id));
  const counters = { clients: 0, connections: 0, ticks: 0, frames: 0, samples: 0, bytes: 0, skippedTicks: 0, sendMs: 0 };

  const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 64 * 1024 });
  wss.on('connection', (ws) => {
    counters.clients++;
    counters.connections++;
    ws.on('close', () => counters.clients--);
    ws.on('error', () => {});
    // Nothing is expected from clients; anything they send is ignored.
  });

  const tick = () => {
    const started = performance.now();
    counters.ticks++;
    const t = Date.now();
    for (let i = 0; i < value.length; i++) {
      let v = value[i] + (random() - 0.5) * 4 + (level[i] - value[i]) * 0.05;
      value[i] = Math.min(100, Math.max(0, v));
    }
    if (wss.clients.size === 0) return;
    // Build the frames once as text (no JSON.stringify of objects: the feed must not be the
    // bottleneck at 100,000 samples/s).
    const frames = [];
    for (let start = 0; start < ids.length; start += batch) {
      const end = Math.min(ids.length, start + batch);
      const parts = new Array(end - start);
      for (let i = start; i < end; i++) {
        parts[i - start] = `{"id":${quoted[i]},"v":${value[i].toFixed(2)},"t":${t}}`;
      }
      frames.push(`{"readings":[${parts.join(',')}]}`);
    }
    for (const ws of wss.clients) {
      if (ws.readyState !== 1) continue;
      if (ws.bufferedAmount > MAX_QUEUED_BYTES) {
        counters.skippedTicks++;
        continue;
      }
      for (const f of frames) {
        ws.send(f);
        counters.frames++;
        counters.bytes += f.length;
      }
      counters.samples += ids.length;
    }
    counters.sendMs += performance.now() - started;
  };

  return new Promise((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => {
      const addr = wss.address();
      const timer = setInterval(tick, 1000 / hz);
      const url = `ws://${host}:${addr.port}/`;
      resolve({
        url,
        port: addr.port,
        stats: () => ({ ...counters, sensors: ids.length, hz, batch }),
        close: () =>
          new Promise((done) => {
            clearInterval(timer);
            for (const ws of wss.clients) ws.terminate();
            wss.close(() => done());
          }),
      });
    });
  });
}

function parseArgs(argv) {
  const out = { manifest: null, port: 0, hz: 10, batch: 1000, maxSeconds: 3600 };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const val = () => (inline !== undefined ? inline : argv[++i]);
    switch (k) {
      case '--manifest': out.manifest = val(); break;
      case '--port': out.port = Number(val()); break;
      case '--hz': out.hz = Number(val()); break;
      case '--batch': out.batch = Number(val()); break;
      case '--max-seconds': out.maxSeconds = Number(val()); break;
      default: throw new Error(`feed: unknown argument ${argv[i]}`);
    }
  }
  if (!out.manifest) throw new Error('feed: --manifest <file> is required');
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const args = parseArgs(process.argv.slice(2));
  const feed = await startFeed({ ids: sensorIds(args.manifest), port: args.port, hz: args.hz, batch: args.batch });
  console.log(`feed: listening ${feed.url} (${feed.stats().sensors} sensors at ${args.hz} Hz, ${args.batch} a frame)`);
  const stop = async (why) => {
    console.log(`feed: stopping (${why}) ${JSON.stringify(feed.stats())}`);
    await feed.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // On request (SIGUSR2) print the counters, so the runner can read them mid-run.
  process.on('SIGUSR2', () => console.log(`feed: stats ${JSON.stringify(feed.stats())}`));
  setTimeout(() => stop('max-seconds'), args.maxSeconds * 1000).unref();
}
