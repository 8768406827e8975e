// Real nats-server clusters and haproxy for the scale-out tests, started by
// the test on 127.0.0.1 with free ports and stopped after it. Debian's
// nats-server and haproxy (scripts/setup.sh installs both).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { freePort, waitFor } from './harness.mjs';

const NATS_SERVER = '/usr/sbin/nats-server';
const HAPROXY = '/usr/sbin/haproxy';

function portAnswers(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function httpJson(url) {
  try {
    const r = await fetch(url);
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

// A nats-server cluster of `size` nodes with full-mesh routes, configured as
// docs/scale-out.md says (a hung node must not delay the others):
// write_deadline 1s, ping_interval 1s, ping_max 2. `extra` is more
// configuration text for every node (authorization, tls).
export class NatsCluster {
  constructor(size, { extra = '' } = {}) {
    this.size = size;
    this.extra = extra;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-nats-'));
    this.nodes = [];
  }

  async start() {
    // Distinct ports: freePort() may hand out a port twice (each is free
    // when asked), and a node on a taken port never joins.
    const taken = new Set();
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!taken.has(p)) {
          taken.add(p);
          return p;
        }
      }
    };
    for (let i = 0; i < this.size; i++) {
      this.nodes.push({ port: await port(), clusterPort: await port(), httpPort: await port() });
    }
    for (let i = 0; i < this.size; i++) this.startNode(i);
    await this.ready();
    return this;
  }

  // nats://127.0.0.1:port of the nodes, in the given order.
  urls(order = [...this.nodes.keys()]) {
    return order.map((i) => `nats://127.0.0.1:${this.nodes[i].port}`).join(',');
  }

  startNode(i) {
    const node = this.nodes[i];
    const routes = this.nodes.filter((_, j) => j !== i).map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
    const config = path.join(this.dir, `node${i}.conf`);
    writeFileSync(config, [
      `server_name: node${i}`, 'host: 127.0.0.1', `port: ${node.port}`, `http: 127.0.0.1:${node.httpPort}`,
      'max_payload: 8MB', 'write_deadline: "1s"', 'ping_interval: "1s"', 'ping_max: 2',
      `cluster { name: imagestream, host: 127.0.0.1, port: ${node.clusterPort}, routes: [${routes.join(', ')}] }`,
      this.extra, '',
    ].join('\n'));
    node.stderr = '';
    node.process = spawn(NATS_SERVER, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    node.process.stderr.setEncoding('utf8').on('data', (d) => { node.stderr += d; });
    node.exited = new Promise((resolve) => node.process.on('exit', resolve));
  }

  // Every running node answers and has its routes to the other running ones.
  async ready(timeoutMs = 10000) {
    const running = this.nodes.filter((n) => n.process && n.process.exitCode === null && !n.stopped);
    await waitFor('the NATS nodes and their routes', async () => {
      for (const n of running) {
        const routez = await httpJson(`http://127.0.0.1:${n.httpPort}/routez`);
        if (!routez || routez.num_routes < running.length - 1) return false;
      }
      return true;
    }, timeoutMs).catch((e) => {
      // What the nodes said (a port in use, a bad configuration).
      const said = this.nodes.map((n, i) => `node${i} (exit ${n.process?.exitCode}): ${n.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      throw new Error(`${e.message}\n${said.join('\n')}`);
    });
  }

  async kill9(i) {
    const node = this.nodes[i];
    node.process.kill('SIGKILL');
    await node.exited;
    node.process = null;
  }

  // Hangs the node (like a partition without a TCP reset) until resume().
  stop(i) {
    this.nodes[i].process.kill('SIGSTOP');
    this.nodes[i].stopped = true;
  }

  resume(i) {
    this.nodes[i].process.kill('SIGCONT');
    this.nodes[i].stopped = false;
  }

  // Starts a killed node again on its ports; resolves once it answers.
  async restart(i) {
    this.startNode(i);
    await waitFor(`node ${i} to answer`, () => portAnswers(this.nodes[i].port));
  }

  close() {
    for (const n of this.nodes) {
      if (!n.process) continue;
      if (n.stopped) n.process.kill('SIGCONT');
      n.process.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// haproxy in redirect mode in front of the edges' web ports: a viewer's GET
// is answered with a 302 to a healthy edge, so the video does not pass the
// balancer. Resolves once it listens.
export async function startBalancer(edgePorts, streamPath) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-haproxy-'));
  const port = await freePort();
  const entry = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'haproxy.cfg');
  writeFileSync(config, balancerConfig({ port, entry, edgePorts, streamPath }));
  const check = spawnSync(HAPROXY, ['-c', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refused its configuration:\n${check.stdout}${check.stderr}`);
  const balancer = { port, entry, log: '' };
  balancer.process = spawn(HAPROXY, ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [balancer.process.stdout, balancer.process.stderr]) {
    stream.setEncoding('utf8').on('data', (d) => { balancer.log += d; });
  }
  balancer.close = () => {
    balancer.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  await waitFor('haproxy to listen', () => portAnswers(port));
  return balancer;
}

// The configuration of docs/scale-out.md, for edges on 127.0.0.1.
export function balancerConfig({ port, entry, edgePorts, streamPath }) {
  return [
    'global', '  maxconn 4096',
    'defaults', '  mode http', '  timeout connect 250ms', '  timeout client 30s', '  timeout server 30s',
    'frontend viewers',
    `  bind 127.0.0.1:${port}`,
    // The page learns where it came in, to find a working edge again by itself.
    `  http-request set-query "%[query]&entry=${entry}" if { query -m found }`,
    `  http-request set-query "entry=${entry}" unless { query -m found }`,
    // ... by fetch() from the edge's origin, which may read the redirect only
    // with this (haproxy's own answers, so http-after-response).
    '  http-after-response set-header Access-Control-Allow-Origin "*"',
    '  default_backend edges',
    'backend edges',
    '  balance roundrobin',
    '  option httpchk',
    `  http-check send meth GET uri ${streamPath}/snapshot.jpg`,
    '  http-check expect status 200',
    '  default-server inter 250ms fastinter 100ms downinter 250ms fall 1 rise 1',
    ...edgePorts.map((p, i) => `  server edge${i} 127.0.0.1:${p} check redir http://127.0.0.1:${p}`),
    '',
  ].join('\n');
}

// A camera whose every frame is unique: a real JPEG followed by a 12-byte tag
// after its end marker (decoders ignore it, relays pass it on as it is): a
// sequence number and the send time (ms since the epoch, a double). Sends at
// `fps` until stopped; `sentAt[i]` is frame i's send time.
export async function startTaggedCamera(port, { frames, fps = 30 } = {}) {
  const socket = await waitFor(`camera connection to port ${port}`, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const camera = { sent: 0, sentAt: [], socket };
  const sendOne = () => {
    const tag = Buffer.alloc(TAG_BYTES);
    tag.writeUInt32BE(camera.sent);
    tag.writeDoubleBE(performance.timeOrigin + performance.now(), 4);
    const frame = Buffer.concat([frames[camera.sent % frames.length], tag]);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64BE(BigInt(frame.length));
    socket.write(Buffer.concat([prefix, frame]));
    camera.sentAt.push(Date.now());
    camera.sent++;
  };
  camera.sendNow = sendOne;
  if (fps > 0) camera.timer = setInterval(sendOne, 1000 / fps);
  camera.stop = () => {
    clearInterval(camera.timer);
    socket.destroy();
  };
  return camera;
}

const TAG_BYTES = 12;

// The sequence number startTaggedCamera put in a frame.
export function tagOf(frame) {
  return frame.readUInt32BE(frame.length - TAG_BYTES);
}

// The time (ms since the epoch) startTaggedCamera sent a frame at.
export function sentTimeOf(frame) {
  return frame.readDoubleBE(frame.length - TAG_BYTES + 4);
}

// A WebSocket viewer that keeps each frame's tag and arrival time; one
// attempt: null when the connection fails.
export async function tryTaggedViewer(url) {
  const { WebSocket } = await import('./harness.mjs');
  const ws = new WebSocket(url);
  const viewer = { ws, tags: [], times: [], latencies: [], closed: false };
  // Listening before the connection opens: the newest frame may come at once.
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    const frame = Buffer.from(data);
    viewer.tags.push(tagOf(frame));
    viewer.times.push(Date.now());
    viewer.latencies.push(performance.timeOrigin + performance.now() - sentTimeOf(frame));
  });
  ws.on('close', () => { viewer.closed = true; });
  const opened = await new Promise((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
  });
  if (!opened) return null;
  // The longest time between two frames from `from` (ms since the epoch) on.
  viewer.longestGap = (from = 0) => {
    let longest = 0;
    for (let i = 1; i < viewer.times.length; i++) {
      if (viewer.times[i] >= from) longest = Math.max(longest, viewer.times[i] - viewer.times[i - 1]);
    }
    return longest;
  };
  viewer.close = () => ws.terminate();
  return viewer;
}

// tryTaggedViewer until it connects.
export function connectTaggedViewer(url) {
  return waitFor(`WebSocket connection to ${url}`, () => tryTaggedViewer(url));
}
