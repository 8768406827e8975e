// Shared by the launcher, script and browser tests: the built launcher as a
// child process, GStreamer pipelines (pipeline.py), camera senders writing
// real JPEGs or PNGs, WebSocket viewers, and headless Chromium (playwright-
// core) and Firefox ESR (puppeteer-core over WebDriver BiDi), both Debian's.
// Everything waits on an event or a condition with a deadline; nothing sleeps
// a fixed time.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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
export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
// The browsers forEachBrowser() runs a test in (IMAGESTREAM_BROWSERS=chromium
// for a quicker run while working on a test).
export const BROWSERS = (process.env.IMAGESTREAM_BROWSERS || 'chromium,firefox').split(',').filter(Boolean);
// The built elements, for pipelines the tests start themselves.
export const PLUGIN_DIR = process.env.IMAGESTREAM_PLUGIN_DIR || path.join(path.dirname(LAUNCHER), '..', 'plugins');
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
  return encodedFrames('jpegenc', count, width, height, pattern);
}

// The same as PNG files (what the seed's own sender sends).
export function pngFrames(count = 30, width = 320, height = 240, pattern = 'ball') {
  return encodedFrames('pngenc', count, width, height, pattern);
}

function encodedFrames(encoder, count, width, height, pattern) {
  const key = `${encoder}:${count}x${width}x${height}x${pattern}`;
  if (frameCache.has(key)) return frameCache.get(key);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-frames-'));
  const result = spawnSync('gst-launch-1.0', ['-q',
    'videotestsrc', `num-buffers=${count}`, `pattern=${pattern}`, '!',
    `video/x-raw,width=${width},height=${height}`, '!', encoder, '!',
    'multifilesink', `location=${dir}/frame-%05d`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`gst-launch-1.0 could not make frames with ${encoder}: ${result.stderr}`);
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
    // An edge's camera has no ingest port: "ingest: none, an edge: ...".
    const ingests = [...this.stdout.matchAll(/^ingest: (?:tcp:\/\/\S+:(\d+)|none\b.*)$/gm)];
    const viewers = [...this.stdout.matchAll(/^viewer: (https?):\/\/([^\s/]+):(\d+)(\/\S*)/gm)];
    this.cameras = viewers.map((match, i) => {
      const webPort = Number(match[3]);
      return {
        ingestPort: ingests[i][1] ? Number(ingests[i][1]) : null,
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

// The environment pipeline.py needs to load the built plugin: its own
// registry per build (a plugin that failed to load once stays blacklisted in
// a registry), and a sanitizer build's ASan runtime preloaded, as python3 is
// not linked with it.
let pipelineEnv = null;
function pipelineEnvironment() {
  if (pipelineEnv) return pipelineEnv;
  const plugin = path.join(PLUGIN_DIR, 'libgstimagestream.so');
  if (!existsSync(plugin)) throw new Error(`${plugin} not found: build the plugin first (ninja -C build)`);
  const build = createHash('sha256').update(path.resolve(PLUGIN_DIR)).digest('hex').slice(0, 12);
  pipelineEnv = {
    ...process.env,
    GST_PLUGIN_PATH: PLUGIN_DIR,
    GST_REGISTRY_1_0: path.join(os.tmpdir(), `imagestream-registry-pipeline-${build}.bin`),
  };
  const asan = /libasan\.so[.\d]* => (\S+)/.exec(spawnSync('ldd', [plugin], { encoding: 'utf8' }).stdout || '');
  if (asan) {
    pipelineEnv.LD_PRELOAD = asan[1];
    pipelineEnv.ASAN_OPTIONS ??= 'detect_leaks=0';
  }
  return pipelineEnv;
}

// A GStreamer pipeline with the built elements (gst-launch-1.0 syntax), run
// by pipeline.py: `await new Pipeline('... ! websocketsink name=out port=0
// path=/v').ready()`, then `ports.out` (the port it listens on, from its
// current-port), `set(element, property, value)` while it plays, `stop()`.
export class Pipeline {
  constructor(description) {
    this.description = description;
    this.events = [];
    this.stderr = '';
    this.process = spawn('/usr/bin/python3', [path.join(SOURCE_ROOT, 'tests', 'browser', 'pipeline.py'), description], {
      env: pipelineEnvironment(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let partial = '';
    this.process.stdout.setEncoding('utf8').on('data', (d) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const line of lines) if (line.trim()) this.events.push(JSON.parse(line));
    });
    this.process.stderr.setEncoding('utf8').on('data', (d) => { this.stderr += d; });
    this.process.stdin.on('error', () => {});
    this.exit = null;
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  failure() {
    const error = this.events.find((e) => e.error);
    if (error) return `pipeline failed: ${error.error}\n${this.description}\n${this.stderr}`;
    if (this.exit) return `pipeline exited ${JSON.stringify(this.exit)}:\n${this.description}\n${this.stderr}`;
    return null;
  }

  // Waits until it plays and every websocketsink listens.
  async ready(timeoutMs = 10000) {
    const ready = await waitFor('the pipeline to play', () => {
      const failure = this.failure();
      if (failure) throw new Error(failure);
      return this.events.find((e) => e.ready);
    }, timeoutMs);
    this.ports = ready.ready.ports;
    [this.port] = Object.values(this.ports);
    return this;
  }

  // Sets a property while playing (caps as gst-launch-1.0 writes them).
  async set(element, property, value) {
    const line = `set ${element} ${property} ${value}`;
    this.process.stdin.write(`${line}\n`);
    await waitFor(`the pipeline to carry out "${line}"`, () => {
      const failure = this.failure();
      if (failure) throw new Error(failure);
      return this.events.some((e) => e.done === line);
    });
  }

  // Ends it (stdin closes: it stops its pipeline and exits).
  async stop(timeoutMs = 5000) {
    this.process.stdin.end();
    const timer = setTimeout(() => this.kill(), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  kill() {
    if (!this.exit) this.process.kill('SIGKILL');
  }
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
  return (await meanColors(browser, png, [region]))[0];
}

// The same for each of `regions` (null: all), with one page.
export async function meanColors(browser, png, regions) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async ({ b64, regions }) => {
      const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      return regions.map((region) => {
        const r = region || { x: 0, y: 0, width: bitmap.width, height: bitmap.height };
        const data = ctx.getImageData(r.x, r.y, r.width, r.height).data;
        const sum = [0, 0, 0];
        for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
        const n = data.length / 4;
        return { r: sum[0] / n, g: sum[1] / n, b: sum[2] / n };
      });
    }, { b64: png.toString('base64'), regions });
  } finally {
    await page.close();
  }
}

// Headless Firefox ESR from the system (Debian's firefox-esr), driven over
// WebDriver BiDi; no browser download.
export async function launchFirefox() {
  if (!existsSync(FIREFOX)) throw new Error(`${FIREFOX} not found: apt-get install firefox-esr`);
  let puppeteer;
  try {
    ({ default: puppeteer } = await import('puppeteer-core'));
  } catch (e) {
    throw new Error(`${e.message}\nThe Firefox tests need puppeteer-core: run \`npm ci\` at the repository root.`);
  }
  return puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, protocol: 'webDriverBiDi', headless: true,
    extraPrefsFirefox: {
      // Full screen at once, without the "press Esc" notice over the page.
      'full-screen-api.transition-duration.enter': '0 0',
      'full-screen-api.transition-duration.leave': '0 0',
      'full-screen-api.warning.timeout': 0,
    },
  });
}

// A page in either browser, with the calls the tests make: goto, evaluate
// (one argument), screenshot (a PNG Buffer, also saved to ARTIFACTS/file),
// text, click, mouseMove, press, stats (window.imagestreamStats), close;
// `requests` lists the URLs the page asked for.
class BrowserPage {
  constructor(name, page) {
    this.name = name;
    this.page = page;
    this.requests = [];
    page.on('request', (r) => this.requests.push(r.url()));
  }

  async goto(url) { await this.page.goto(url); }
  evaluate(fn, arg) { return this.page.evaluate(fn, arg); }
  async screenshot(file = null) {
    return Buffer.from(await this.page.screenshot(file ? { path: path.join(ARTIFACTS, file) } : {}));
  }

  text(selector) { return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector); }
  click(selector) { return this.page.click(selector); }
  mouseMove(x, y) { return this.page.mouse.move(x, y); }
  press(key) { return this.page.keyboard.press(key); }
  stats() { return this.evaluate(() => ({ ...window.imagestreamStats })); }
  close() { return this.page.close(); }
}

// A test file's browsers, and the launchers and pipelines it starts, shut
// down after its tests (with `afterEach`, each test's own after it, pages
// included, so that a failed test leaves no load behind):
// `const env = useBrowserAndLaunchers({ before, after, afterEach })`, then
// env.browser (Chromium, Playwright's API), env.launch(args),
// env.pipeline(description), and
//   env.forEachBrowser((name, newPage) => test(`... [${name}]`, async () => {
//     const page = await newPage({ width, height }); ... }));
// which defines the test once per browser of BROWSERS (Firefox starts with
// its first page).
export function useBrowserAndLaunchers({ before, after, afterEach = null }) {
  let running = [];
  let pages = [];
  let firefox = null;
  const env = {
    browser: null,
    launch(args) {
      const launcher = new Launcher(args);
      running.push(launcher);
      return launcher;
    },
    pipeline(description) {
      const pipeline = new Pipeline(description);
      running.push(pipeline);
      return pipeline.ready();
    },
    async newPage(name, viewport = { width: 640, height: 480 }) {
      let page;
      if (name === 'chromium') {
        page = new BrowserPage(name, await env.browser.newPage({ viewport }));
      } else if (name === 'firefox') {
        firefox ??= launchFirefox();
        const p = await (await firefox).newPage();
        await p.setViewport(viewport);
        page = new BrowserPage(name, p);
      } else {
        throw new Error(`no browser named ${name}`);
      }
      pages.push(page);
      return page;
    },
    forEachBrowser(body, browsers = BROWSERS) {
      for (const name of browsers) body(name, (viewport) => env.newPage(name, viewport));
    },
  };
  const cleanUp = async () => {
    running.forEach((r) => r.kill());
    running = [];
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    pages = [];
  };
  before(async () => { env.browser = await launchBrowser(); });
  afterEach?.(cleanUp);
  after(async () => {
    await cleanUp();
    await env.browser?.close();
    if (firefox) await (await firefox.catch(() => null))?.close();
  });
  return env;
}
