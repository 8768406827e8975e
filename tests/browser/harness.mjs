// Shared by the launcher, script and browser tests: the built launcher as a
// child process, camera senders writing real JPEGs, WebSocket viewers, and
// headless Chromium. Everything waits on an event or a condition with a
// deadline; nothing sleeps a fixed time.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

let WebSocket;
let chromium;
try {
  ({ default: WebSocket } = await import('ws'));
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  throw new Error(`${e.message}\nThe browser tests need the npm packages: run \`npm ci\` at the repository root.`);
}
export { WebSocket };

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the tests with \`meson test\``);
  return value;
}

export const LAUNCHER = requireEnv('IMAGESTREAM_LAUNCH');
export const SOURCE_ROOT = requireEnv('IMAGESTREAM_SOURCE_ROOT');
export const ARTIFACTS = process.env.IMAGESTREAM_ARTIFACTS || path.join(os.tmpdir(), 'imagestream-artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(ARTIFACTS, { recursive: true });

// Polls `condition` (sync or async) until it returns a truthy value, which is
// returned; throws naming `what` after `timeoutMs`.
export async function waitFor(what, condition, timeoutMs = 10000, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// `count` real JPEG frames of videotestsrc's `pattern` (the moving ball:
// each one different), made once per process with gst-launch-1.0.
const frameCache = new Map();
export function jpegFrames(count = 30, width = 320, height = 240, pattern = 'ball') {
  const key = `${count}x${width}x${height}x${pattern}`;
  if (frameCache.has(key)) return frameCache.get(key);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-frames-'));
  const result = spawnSync('gst-launch-1.0', ['-q',
    'videotestsrc', `num-buffers=${count}`, `pattern=${pattern}`, '!',
    `video/x-raw,width=${width},height=${height}`, '!', 'jpegenc', '!',
    'multifilesink', `location=${dir}/frame-%05d.jpg`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`gst-launch-1.0 could not make JPEG frames: ${result.stderr}`);
  const frames = readdirSync(dir).sort().map((f) => readFileSync(path.join(dir, f)));
  rmSync(dir, { recursive: true });
  frameCache.set(key, frames);
  return frames;
}

// Width and height from a JPEG's start-of-frame marker.
export function jpegSize(bytes) {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) throw new Error(`not a JPEG marker at ${i}`);
    const marker = bytes[i + 1];
    const length = bytes.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: bytes.readUInt16BE(i + 7), height: bytes.readUInt16BE(i + 5) };
    }
    i += 2 + length;
  }
  throw new Error('JPEG without a start-of-frame marker');
}

export function isJpeg(bytes) {
  return bytes.length > 4 && bytes[0] === 0xff && bytes[1] === 0xd8;
}

// A camera: connects to the ingest port and sends `frames` round-robin at
// `fps`, each as an 8-byte big-endian length and the JPEG.
export async function startCamera(port, { frames = jpegFrames(), fps = 30, host = '127.0.0.1' } = {}) {
  const socket = await waitFor(`camera connection to port ${port}`, () => new Promise((resolve) => {
    const s = net.connect(port, host, () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  socket.on('error', () => {});
  let next = 0;
  const camera = { sent: 0, socket };
  const sendOne = () => {
    const frame = frames[next++ % frames.length];
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64BE(BigInt(frame.length));
    // Like a real camera on a slow link: skip a frame rather than queue it.
    if (socket.writableLength > 4 * frame.length) return;
    socket.write(prefix);
    socket.write(frame);
    camera.sent++;
  };
  const timer = setInterval(sendOne, 1000 / fps);
  camera.stop = () => {
    clearInterval(timer);
    socket.destroy();
  };
  return camera;
}

// A camera that connects, writes `frames` back to back as fast as the socket
// takes them, and leaves; resolves once all is written.
export async function sendBurst(port, frames, host = '127.0.0.1') {
  const socket = await waitFor(`camera connection to port ${port}`, () => new Promise((resolve) => {
    const s = net.connect(port, host, () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  for (const frame of frames) {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64BE(BigInt(frame.length));
    socket.write(prefix);
    socket.write(frame);
  }
  await new Promise((resolve) => socket.end(resolve));
}

// A viewer: a WebSocket that keeps the binary messages it receives.
export async function connectViewer(url, options = {}) {
  const ws = await waitFor(`WebSocket connection to ${url}`, () => new Promise((resolve) => {
    const s = new WebSocket(url, options);
    s.once('open', () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  const viewer = { ws, messages: [], closed: false };
  ws.on('message', (data, isBinary) => {
    if (isBinary) viewer.messages.push(data);
  });
  ws.on('close', () => { viewer.closed = true; });
  viewer.close = () => ws.terminate();
  return viewer;
}

// The launcher as a child process, with its output collected line by line.
export class Launcher {
  constructor(args, { env = {} } = {}) {
    this.args = args;
    this.stdout = '';
    this.stderr = '';
    this.process = spawn(LAUNCHER, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stdout.setEncoding('utf8').on('data', (d) => { this.stdout += d; });
    this.process.stderr.setEncoding('utf8').on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => resolve({ code, signal }));
    });
    this.exit = null;
    this.exited.then((e) => { this.exit = e; });
  }

  // Waits for the start-up lines (every camera's block, the last one ends
  // with its "metrics:" line); returns the ports actually bound. `cameras`
  // has one entry per camera, the first one's also directly on `this`.
  async ready(timeoutMs = 10000, cameras = 1) {
    await waitFor('the launcher\'s start-up lines', () => {
      if (this.exit) {
        throw new Error(`launcher exited ${JSON.stringify(this.exit)} before it was ready:\n${this.stderr}`);
      }
      return (this.stdout.match(/^metrics: /gm) || []).length >= cameras;
    }, timeoutMs);
    const ingests = [...this.stdout.matchAll(/^ingest: tcp:\/\/\S+:(\d+)$/gm)];
    const viewers = [...this.stdout.matchAll(/^viewer: (https?):\/\/([^\s/]+):(\d+)(\/\S*)/gm)];
    this.cameras = viewers.map((match, i) => {
      const webPort = Number(match[3]);
      return {
        ingestPort: Number(ingests[i][1]),
        webPort,
        path: match[4],
        pageUrl: `${match[1]}://127.0.0.1:${webPort}${match[4]}`,
        streamUrl: `${match[1] === 'https' ? 'wss' : 'ws'}://127.0.0.1:${webPort}${match[4]}`,
      };
    });
    Object.assign(this, this.cameras[0]);
    return this;
  }

  // Sends `signal` and waits for the exit; returns {code, signal, ms}.
  async stop(signal = 'SIGTERM', timeoutMs = 10000) {
    const started = Date.now();
    if (!this.exit) this.process.kill(signal);
    const timeout = new Promise((_, reject) => setTimeout(
      () => reject(new Error(`launcher still running ${timeoutMs} ms after ${signal}`)), timeoutMs).unref());
    const exit = await Promise.race([this.exited, timeout]);
    return { ...exit, ms: Date.now() - started };
  }

  // Ends the process whatever its state; for test cleanup.
  kill() {
    if (!this.exit) this.process.kill('SIGKILL');
  }
}

// Runs the launcher to completion (for arguments that make it exit at once).
export function runLauncher(args, timeoutMs = 10000) {
  return spawnSync(LAUNCHER, args, { encoding: 'utf8', timeout: timeoutMs });
}

// A TCP port that was free a moment ago (for tools that need a number in
// advance, like initiate_screen.sh; the launcher itself takes port 0).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Headless Chromium from the system (Debian's package); no browser download.
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

// Compares two PNG screenshots in the browser (which decodes PNG for free):
// the fraction of pixels that differ, and of pixels that are not black in the
// second one, within the rectangle `region` (default: all).
export async function comparePngs(browser, first, second, region = null) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async ({ a, b, region }) => {
      const load = async (b64) => createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
      const [ia, ib] = [await load(a), await load(b)];
      const r = region || { x: 0, y: 0, width: ib.width, height: ib.height };
      const pixels = (bitmap) => {
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d');
        ctx.drawImage(bitmap, 0, 0);
        return ctx.getImageData(r.x, r.y, r.width, r.height).data;
      };
      const [pa, pb] = [pixels(ia), pixels(ib)];
      let changed = 0;
      let lit = 0;
      for (let i = 0; i < pa.length; i += 4) {
        const d = Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]);
        if (d > 30) changed++;
        if (pb[i] + pb[i + 1] + pb[i + 2] > 30) lit++;
      }
      const total = pa.length / 4;
      return { changed: changed / total, lit: lit / total };
    }, { a: first.toString('base64'), b: second.toString('base64'), region });
  } finally {
    await page.close();
  }
}

// The mean colour {r, g, b} (0-255) of a PNG screenshot within `region`
// (default: all), decoded in the browser.
export async function meanColor(browser, png, region = null) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async ({ b64, region }) => {
      const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
      const r = region || { x: 0, y: 0, width: bitmap.width, height: bitmap.height };
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const data = ctx.getImageData(r.x, r.y, r.width, r.height).data;
      const sum = [0, 0, 0];
      for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
      const n = data.length / 4;
      return { r: sum[0] / n, g: sum[1] / n, b: sum[2] / n };
    }, { b64: png.toString('base64'), region });
  } finally {
    await page.close();
  }
}

// A test file's Chromium and the launchers it starts, shut down after its
// tests: `const env = useBrowserAndLaunchers(); ... env.browser, env.launch(args)`.
export function useBrowserAndLaunchers({ before, after }) {
  const running = [];
  const env = {
    browser: null,
    launch(args) {
      const launcher = new Launcher(args);
      running.push(launcher);
      return launcher;
    },
  };
  before(async () => { env.browser = await launchBrowser(); });
  after(async () => {
    running.forEach((l) => l.kill());
    await env.browser?.close();
  });
  return env;
}
