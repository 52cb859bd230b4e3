// three.js reference for the benchmark suite: the same twin manifests, models and WebSocket feed
// as twinlens, written the way three.js's documentation recommends (GLTFLoader, WebGLRenderer or
// WebGPURenderer, InstancedMesh for meshes that glTF reuses, CSS2DRenderer labels, per-node
// material colours), with `window.bench.stats()` shaped like `window.twinlens.stats()`.
// With batch=material (the CAD-assembly scenarios, where no mesh is reused) every mesh is
// moved into one THREE.BatchedMesh per material instead: one multi-draw per material, per-part
// matrices and colours in textures, per-part frustum culling; that is the strongest way three.js
// offers to draw many unique meshes, so the comparison with twinlens's own batching is fair.
//
// Query: manifest=<url> (default /demo/pump-skid.twin.json), backend=webgpu|webgl,
// labels=css2d|none, batch=none|material, cull=1|0 (BatchedMesh per-object frustum culling).
// It always renders every animation frame (as three.js apps usually do).
//
// Phases timed with performance.now() around the same work twinlens times:
//   apply   = parse queued WebSocket frames and apply readings to the sensor table;
//   overlay = label text/state, node colours, CSS2DRenderer.render (label positions);
//   encode  = renderer.render(scene, camera) (WebGL calls, or WebGPU encode + submit);
//   cpu     = the whole frame callback; interval = time between frame starts.

import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { CSS2DRenderer, CSS2DObject } from 'three/addons/renderers/CSS2DRenderer.js';

const params = new URLSearchParams(location.search);
const wantWebGpu = params.get('backend') === 'webgpu';
const labelsMode = params.get('labels') || 'css2d';
const batchMode = params.get('batch') || 'none';
const perObjectCulling = params.get('cull') !== '0';
const statusEl = document.getElementById('status');

// ---------------------------------------------------------------------------------------------
// Timings: a ring of the newest 4096 samples per phase, nearest-rank percentiles (as twinlens).

const WINDOW = 4096;
class Ring {
  constructor() { this.s = []; this.next = 0; }
  push(v) {
    if (!Number.isFinite(v)) return;
    if (this.s.length < WINDOW) this.s.push(v); else this.s[this.next] = v;
    this.next = (this.next + 1) % WINDOW;
  }
  pct() {
    if (!this.s.length) return { p50: 0, p95: 0 };
    const a = this.s.slice().sort((x, y) => x - y);
    const rank = (p) => a[Math.min(a.length, Math.max(1, Math.ceil(p * a.length))) - 1];
    return { p50: rank(0.5), p95: rank(0.95) };
  }
}
let timings;
function resetTimings() {
  timings = { frames: 0, cpu: new Ring(), apply: new Ring(), overlay: new Ring(), encode: new Ring(), interval: new Ring(), last: null };
}
resetTimings();

const stats = {
  state: 'loading',
  backend: null,
  backendNote: null,
  renderer: null,
  threeRevision: THREE.REVISION,
  frames: 0,
  drawCalls: 0,
  triangles: 0,
  nodes: 0,
  sensors: 0,
  sensorsBound: 0,
  instancedMeshes: 0,
  batchedMeshes: 0,
  labels: 0,
  lastError: null,
  firstFrameMs: null,
  cpuMsLastFrame: 0,
  canvasWidth: 0,
  canvasHeight: 0,
};
const feed = { url: null, connects: 0, frames: 0, samples: 0, unknown: 0, outOfOrder: 0, notJson: 0 };

window.bench = {
  stats() {
    const t = timings;
    return {
      ...stats,
      connection: feed.url ? { ...feed } : null,
      timings: {
        frames: t.frames,
        cpuMs: t.cpu.pct(),
        applyMs: t.apply.pct(),
        overlayMs: t.overlay.pct(),
        encodeMs: t.encode.pct(),
        intervalMs: t.interval.pct(),
      },
      memory: {},
    };
  },
  resetTimings,
};

function fail(e) {
  stats.state = 'error';
  stats.lastError = String(e && e.stack ? e.stack : e);
  statusEl.textContent = `error: ${e}`;
  console.error(e);
}
window.addEventListener('error', (e) => fail(e.error || e.message));
window.addEventListener('unhandledrejection', (e) => fail(e.reason));

// ---------------------------------------------------------------------------------------------
// JSON pointers (RFC 6901) split once.

function pointer(p) {
  if (p == null) return null;
  if (p === '') return (v) => v;
  const tokens = p.replace(/^\//, '').split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  return (v) => {
    for (const t of tokens) {
      if (v == null || typeof v !== 'object') return undefined;
      v = v[t];
    }
    return v;
  };
}

// ---------------------------------------------------------------------------------------------
// Sensor table and states.

const NORMAL = 0, WARNING = 1, ALARM = 2, STALE = 3, NODATA = 4;
const STATE_CLASS = ['label', 'label warning', 'label alarm', 'label stale', 'label nodata'];
const TINT = [null, new THREE.Color(1.0, 0.55, 0.05), new THREE.Color(0.95, 0.08, 0.05), null, null];
const SEVERITY = [0, 3, 4, 2, 1]; // for the node tint: alarm > warning > stale > no data > normal

let sensors = []; // { id, name, unit, warning, alarm, maxAgeMs, node, value, t, received, state, text, el }
let idIndex = new Map();
let dirty = []; // sensor indices with a new value since the last frame
let pendingFlag; // Uint8Array
let nodeSensors = new Map(); // node name -> sensor indices
let nodeTargets = new Map(); // node name -> [{ mesh, base } | { im, index }]
let nodeTint = new Map(); // node name -> current tint state
const queue = []; // raw WebSocket text frames

function classify(s, now) {
  if (s.received === 0) return NODATA;
  if (now - s.received > s.maxAgeMs) return STALE;
  const v = s.value;
  if (typeof v !== 'number') return NORMAL;
  const beyond = (th) => th && ((th.above != null && v >= th.above) || (th.below != null && v <= th.below));
  if (beyond(s.alarm)) return ALARM;
  if (beyond(s.warning)) return WARNING;
  return NORMAL;
}

function labelText(s) {
  const v = s.value;
  const shown = typeof v === 'number' ? v.toFixed(Math.abs(v) >= 100 ? 0 : 1) : v === undefined ? '—' : String(v);
  return `${s.name}: ${shown}${s.unit ? ' ' + s.unit : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Feed.

function connect(source) {
  const url = /^wss?:\/\//.test(source.url)
    ? source.url
    : `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${source.url.startsWith('/') ? '' : '/'}${source.url}`;
  feed.url = url;
  const p = source.payload || {};
  const readingsAt = pointer(p.readings ?? null);
  const idAt = pointer(p.id ?? '/id');
  const valueAt = pointer(p.value ?? '/value');
  const timeAt = pointer(p.timestamp ?? null);
  source.decode = (text, now) => {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      feed.notJson++;
      return;
    }
    const list = readingsAt ? readingsAt(msg) : Array.isArray(msg) ? msg : [msg];
    if (!Array.isArray(list)) return;
    for (const r of list) {
      const i = idIndex.get(String(idAt(r)));
      if (i === undefined) {
        feed.unknown++;
        continue;
      }
      const s = sensors[i];
      const t = timeAt ? Number(timeAt(r)) || now : now;
      if (t < s.t) {
        feed.outOfOrder++;
        continue;
      }
      s.value = valueAt(r);
      s.t = t;
      s.received = now;
      feed.samples++;
      if (!pendingFlag[i]) {
        pendingFlag[i] = 1;
        dirty.push(i);
      }
    }
  };
  const open = () => {
    const ws = new WebSocket(url);
    ws.onopen = () => feed.connects++;
    ws.onmessage = (e) => {
      feed.frames++;
      if (typeof e.data === 'string') queue.push(e.data);
    };
    ws.onclose = () => setTimeout(open, 1000);
  };
  open();
}

// ---------------------------------------------------------------------------------------------
// Scene.

async function main() {
  const manifestUrl = new URL(params.get('manifest') || '/demo/pump-skid.twin.json', location.href);
  statusEl.textContent = `loading ${manifestUrl}`;
  const manifest = await (await fetch(manifestUrl)).json();
  sensors = (manifest.sensors || []).map((s) => ({
    id: (s.binding && s.binding.key) || s.id,
    name: s.name,
    unit: s.unit || '',
    warning: s.warning || null,
    alarm: s.alarm || null,
    maxAgeMs: (s.maxAgeSeconds ?? 30) * 1000,
    node: s.node,
    value: undefined,
    t: -Infinity,
    received: 0,
    state: -1,
    text: '',
    el: null,
  }));
  idIndex = new Map(sensors.map((s, i) => [s.id, i]));
  pendingFlag = new Uint8Array(sensors.length);
  stats.sensors = sensors.length;
  if (manifest.source) connect(manifest.source);

  // Renderer.
  let renderer;
  if (wantWebGpu) {
    renderer = new THREE.WebGPURenderer({ antialias: true });
    await renderer.init();
    const isWebGpu = !!(renderer.backend && renderer.backend.isWebGPUBackend);
    stats.backend = isWebGpu ? 'webgpu' : 'webgl';
    stats.renderer = 'WebGPURenderer';
    if (!isWebGpu) stats.backendNote = 'WebGPURenderer fell back to its WebGL2 backend';
  } else {
    renderer = new THREE.WebGLRenderer({ antialias: true });
    stats.backend = 'webgl';
    stats.renderer = 'WebGLRenderer';
  }
  renderer.setPixelRatio(window.devicePixelRatio);
  renderer.setSize(window.innerWidth, window.innerHeight);
  document.getElementById('view').appendChild(renderer.domElement);

  let labelRenderer = null;
  if (labelsMode === 'css2d') {
    labelRenderer = new CSS2DRenderer();
    labelRenderer.setSize(window.innerWidth, window.innerHeight);
    labelRenderer.domElement.id = 'labels';
    document.body.appendChild(labelRenderer.domElement);
  }

  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x1b1f24);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 1.6));
  const sun = new THREE.DirectionalLight(0xffffff, 1.8);
  sun.position.set(3, 6, 4);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(45, window.innerWidth / window.innerHeight, 0.01, 1000);

  // Model, placed as the manifest says.
  const modelUrl = new URL(manifest.model.url, manifestUrl).href;
  statusEl.textContent = `loading ${modelUrl}`;
  const gltf = await new GLTFLoader().loadAsync(modelUrl);
  const m = manifest.model;
  const placed = new THREE.Group();
  placed.scale.setScalar(m.unitScale ?? 1);
  if ((m.upAxis ?? 'y') === 'z') placed.quaternion.setFromAxisAngle(new THREE.Vector3(1, 0, 0), -Math.PI / 2);
  placed.position.fromArray(m.originOffset ?? [0, 0, 0]);
  placed.add(gltf.scene);
  scene.add(placed);
  scene.updateMatrixWorld(true);

  // Nodes by glTF name; each node's own meshes (a multi-primitive mesh is a Group of them).
  const nodeNames = new Set((gltf.parser.json.nodes || []).map((n) => n.name).filter(Boolean));
  stats.nodes = (gltf.parser.json.nodes || []).length;
  const byName = new Map();
  gltf.scene.traverse((o) => {
    if (nodeNames.has(o.name) && !byName.has(o.name)) byName.set(o.name, o);
  });
  const ownMeshes = (o) => (o.isMesh ? [o] : o.children.filter((c) => c.isMesh && !nodeNames.has(c.name)));

  for (const [i, s] of sensors.entries()) {
    if (!byName.has(s.node)) continue;
    stats.sensorsBound++;
    if (!nodeSensors.has(s.node)) nodeSensors.set(s.node, []);
    nodeSensors.get(s.node).push(i);
  }

  // Label anchors: above each bound node's bounds, stacked per sensor.
  const anchors = new Map();
  const box = new THREE.Box3();
  for (const name of nodeSensors.keys()) {
    box.setFromObject(byName.get(name));
    const size = box.getSize(new THREE.Vector3());
    const top = new THREE.Vector3((box.min.x + box.max.x) / 2, box.max.y, (box.min.z + box.max.z) / 2);
    anchors.set(name, { top, step: Math.max(0.12, size.y * 0.08) });
  }

  // Instancing: meshes that share geometry and material (glTF mesh reuse) become one
  // InstancedMesh, coloured per instance; the rest keep their own (cloned) material.
  const groups = new Map();
  gltf.scene.traverse((o) => {
    if (o.isMesh && o.children.length === 0) {
      const key = `${o.geometry.uuid}|${o.material.uuid}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(o);
    }
  });
  const instanceOf = new Map(); // mesh -> { im, index } or { batch, id, base }
  const white = new THREE.Color(1, 1, 1);
  if (batchMode === 'material') {
    stats.batchedMeshes = batchByMaterial(gltf.scene, scene, instanceOf);
    groups.clear();
  }
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const im = new THREE.InstancedMesh(members[0].geometry, members[0].material, members.length);
    members.forEach((mesh, k) => {
      im.setMatrixAt(k, mesh.matrixWorld);
      im.setColorAt(k, white);
      instanceOf.set(mesh, { im, index: k });
      mesh.removeFromParent();
    });
    im.instanceMatrix.needsUpdate = true;
    im.computeBoundingSphere();
    scene.add(im);
    stats.instancedMeshes++;
  }
  for (const name of nodeSensors.keys()) {
    const targets = [];
    for (const mesh of ownMeshes(byName.get(name))) {
      const inst = instanceOf.get(mesh);
      if (inst) {
        targets.push(inst);
      } else {
        mesh.material = mesh.material.clone();
        targets.push({ mesh, base: mesh.material.color.clone() });
      }
    }
    // A node that is itself an instanced mesh was removed from the scene graph above.
    if (byName.get(name).isMesh && instanceOf.has(byName.get(name)) && targets.length === 0) {
      targets.push(instanceOf.get(byName.get(name)));
    }
    nodeTargets.set(name, targets);
    nodeTint.set(name, -1);
  }

  // Labels: one CSS2DObject per sensor.
  if (labelRenderer) {
    for (const [name, list] of nodeSensors) {
      const { top, step } = anchors.get(name);
      list.forEach((i, k) => {
        const s = sensors[i];
        const el = document.createElement('div');
        el.className = STATE_CLASS[NODATA];
        el.textContent = labelText(s);
        const obj = new CSS2DObject(el);
        obj.position.set(top.x, top.y + step * (k + 1), top.z);
        scene.add(obj);
        s.el = el;
        s.text = el.textContent;
        s.state = NODATA;
        stats.labels++;
      });
    }
  }

  // Frame the model: three-quarter view (yaw 0.6, pitch 0.4) fitting its bounding sphere.
  const bounds = new THREE.Box3().setFromObject(scene);
  const center = bounds.getCenter(new THREE.Vector3());
  const radius = Math.max(1e-3, bounds.getSize(new THREE.Vector3()).length() / 2);
  const frameCamera = () => {
    const aspect = window.innerWidth / Math.max(1, window.innerHeight);
    camera.aspect = aspect;
    const halfV = THREE.MathUtils.degToRad(camera.fov) / 2;
    const half = Math.min(halfV, Math.atan(Math.tan(halfV) * aspect));
    const distance = (radius / Math.sin(half)) * 1.05;
    const yaw = 0.6, pitch = 0.4;
    camera.position.set(
      center.x + distance * Math.cos(pitch) * Math.sin(yaw),
      center.y + distance * Math.sin(pitch),
      center.z + distance * Math.cos(pitch) * Math.cos(yaw),
    );
    camera.near = Math.max(distance - radius * 2, distance * 0.01, 1e-3);
    camera.far = distance + radius * 4;
    camera.lookAt(center);
    camera.updateProjectionMatrix();
  };
  frameCamera();
  window.addEventListener('resize', () => {
    renderer.setSize(window.innerWidth, window.innerHeight);
    labelRenderer?.setSize(window.innerWidth, window.innerHeight);
    frameCamera();
  });

  // ------------------------------------------------------------------------------------------
  // Frame loop.

  let lastSweep = 0;
  const touchedNodes = new Set();
  const info = renderer.info;

  function updateSensor(i, now) {
    const s = sensors[i];
    const state = classify(s, now);
    if (s.el) {
      const text = labelText(s);
      if (text !== s.text) {
        s.el.textContent = text;
        s.text = text;
      }
      if (state !== s.state) s.el.className = STATE_CLASS[state];
    }
    if (state !== s.state) {
      s.state = state;
      touchedNodes.add(s.node);
    }
  }

  function frame() {
    const t0 = performance.now();
    const now = Date.now();

    // apply
    const src = manifest.source;
    while (queue.length) src.decode(queue.shift(), now);
    const t1 = performance.now();

    // overlay
    for (const i of dirty) {
      pendingFlag[i] = 0;
      if (nodeTargets.has(sensors[i].node)) updateSensor(i, now);
    }
    dirty.length = 0;
    if (now - lastSweep > 250) {
      lastSweep = now;
      for (let i = 0; i < sensors.length; i++) {
        if (nodeTargets.has(sensors[i].node) && sensors[i].state !== classify(sensors[i], now)) updateSensor(i, now);
      }
    }
    for (const name of touchedNodes) {
      let worst = NORMAL;
      for (const i of nodeSensors.get(name)) if (SEVERITY[sensors[i].state] > SEVERITY[worst]) worst = sensors[i].state;
      if (worst === nodeTint.get(name)) continue;
      nodeTint.set(name, worst);
      const tint = TINT[worst];
      for (const target of nodeTargets.get(name)) {
        if (target.mesh) {
          target.mesh.material.color.copy(tint || target.base);
        } else if (target.batch) {
          target.batch.setColorAt(target.id, tint || target.base);
        } else {
          target.im.setColorAt(target.index, tint || white);
          target.im.instanceColor.needsUpdate = true;
        }
      }
    }
    touchedNodes.clear();
    if (labelRenderer) labelRenderer.render(scene, camera);
    const t2 = performance.now();

    // encode
    renderer.render(scene, camera);
    const t3 = performance.now();

    stats.frames++;
    stats.drawCalls = info.render.drawCalls ?? info.render.calls;
    stats.triangles = info.render.triangles;
    stats.cpuMsLastFrame = t3 - t0;
    stats.canvasWidth = renderer.domElement.width;
    stats.canvasHeight = renderer.domElement.height;
    if (stats.firstFrameMs === null) {
      stats.firstFrameMs = t3;
      stats.state = 'ready';
      statusEl.textContent = `three.js r${THREE.REVISION} ${stats.renderer} (${stats.backend})`;
    }
    const tm = timings;
    if (tm.last !== null) tm.interval.push(t0 - tm.last);
    tm.last = t0;
    tm.frames++;
    tm.apply.push(t1 - t0);
    tm.overlay.push(t2 - t1);
    tm.encode.push(t3 - t2);
    tm.cpu.push(t3 - t0);
  }
  renderer.setAnimationLoop(frame);
}

/**
 * Moves every leaf mesh under `root` into one BatchedMesh per material (and vertex layout),
 * added to `scene`, and records each mesh's `{ batch, id, base }` in `instanceOf`. The batch's
 * material is white and each part's colour is its instance colour, so a tint replaces it as it
 * replaces a plain mesh's colour. Mirrored parts (negative determinant) get their triangles
 * rewound, since a BatchedMesh cannot flip the front face per instance. Returns the batch count.
 */
function batchByMaterial(root, scene, instanceOf) {
  root.updateMatrixWorld(true);
  const groups = new Map();
  root.traverse((o) => {
    if (!o.isMesh || o.isInstancedMesh || o.isBatchedMesh || o.children.length > 0) return;
    const g = o.geometry;
    const key = `${o.material.uuid}|${Object.keys(g.attributes).sort().join(',')}|${g.index ? 'indexed' : 'plain'}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(o);
  });
  for (const members of groups.values()) {
    // A geometry glTF reuses is added once per winding and instanced.
    const flipped = (m) => m.matrixWorld.determinant() < 0;
    const shapes = new Map(members.map((m) => [`${m.geometry.uuid}|${flipped(m)}`, m.geometry]));
    const vertices = [...shapes.values()].reduce((n, g) => n + g.attributes.position.count, 0);
    const indices = [...shapes.values()].reduce((n, g) => n + (g.index ? g.index.count : 0), 0);
    const geometryIds = new Map();
    const material = members[0].material.clone();
    const base = material.color.clone();
    material.color.set(1, 1, 1);
    const batch = new THREE.BatchedMesh(members.length, vertices, Math.max(indices, 1), material);
    batch.name = `batch:${members[0].material.name || members[0].material.uuid}`;
    batch.perObjectFrustumCulled = perObjectCulling;
    batch.sortObjects = false; // opaque: the depth test orders them; sorting only costs CPU
    for (const mesh of members) {
      const key = `${mesh.geometry.uuid}|${flipped(mesh)}`;
      if (!geometryIds.has(key)) {
        let geometry = mesh.geometry;
        if (flipped(mesh) && geometry.index) {
          geometry = geometry.clone();
          const idx = geometry.index.array;
          for (let i = 0; i + 2 < idx.length; i += 3) [idx[i + 1], idx[i + 2]] = [idx[i + 2], idx[i + 1]];
        }
        geometryIds.set(key, batch.addGeometry(geometry));
      }
      const id = batch.addInstance(geometryIds.get(key));
      batch.setMatrixAt(id, mesh.matrixWorld);
      batch.setColorAt(id, base);
      instanceOf.set(mesh, { batch, id, base });
      mesh.removeFromParent();
    }
    scene.add(batch);
  }
  return groups.size;
}

main().catch(fail);
