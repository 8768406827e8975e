// Frames per second a browser viewer draws: the project's viewer page (with
// each decoder, and as it picks one itself) next to the seed's base64 page and
// worker, in headless Chromium, under the same load (1080p JPEGs sent to the
// relay at 60 fps), with the browser's CPU use and how busy each page keeps
// its main thread (what a page has left for everything else).
//
//   node bench/viewer_fps.mjs [--seconds=10] [--fps=60] [--launcher=PATH]
//
// Needs a built launcher (default build/launcher/imagestream-launch, or
// $IMAGESTREAM_LAUNCH), `npm ci` at the repository root, and
// /usr/bin/chromium. Uses port 8090, where the seed page looks for the relay.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    fps: { type: 'string', default: '60' },
    width: { type: 'string', default: '1920' },
    height: { type: 'string', default: '1080' },
    launcher: { type: 'string', default: process.env.IMAGESTREAM_LAUNCH || path.join(root, 'build/launcher/imagestream-launch') },
  },
});
process.env.IMAGESTREAM_LAUNCH = opts.launcher;
process.env.IMAGESTREAM_SOURCE_ROOT = root;
const { Launcher, launchBrowser, startCamera, waitFor } = await import('../tests/browser/harness.mjs');

const WARMUP_MS = 2000;
const seconds = Number(opts.seconds);

// SMPTE bars with a running clock: every frame differs, and each is about
// the size of a real camera's 1080p JPEG (~170 KB).
function makeFrames(count) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-bench-'));
  const result = spawnSync('gst-launch-1.0', ['-q', 'videotestsrc', `num-buffers=${count}`, 'pattern=smpte', '!',
    `video/x-raw,width=${opts.width},height=${opts.height},framerate=60/1`, '!',
    'timeoverlay', 'font-desc=Sans 48', '!', 'jpegenc', '!', 'multifilesink', `location=${dir}/f-%05d.jpg`],
  { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  const frames = readdirSync(dir).sort().map((f) => readFileSync(path.join(dir, f)));
  rmSync(dir, { recursive: true });
  return frames;
}

// CPU seconds used so far by the browser: every process descending from this
// one except the relay (`excludePid`). Clock ticks are 1/100 s on Linux.
function browserCpuSeconds(excludePid) {
  const parent = new Map();
  const ticks = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(pid), Number(fields[1]));
    ticks.set(Number(pid), Number(fields[11]) + Number(fields[12]));
  }
  const descends = (pid) => {
    for (let p = pid; p > 1; p = parent.get(p) ?? 0) {
      if (p === excludePid) return false;
      if (p === process.pid) return pid !== process.pid;
    }
    return false;
  };
  let total = 0;
  for (const [pid, t] of ticks) if (descends(pid)) total += t;
  return total / 100;
}

// Each page, and how to read from outside what it has received and drawn.
const viewerCounters = () => ({
  received: window.imagestreamStats.framesReceived,
  drawn: window.imagestreamStats.framesDrawn,
  method: window.imagestreamStats.decoder,
});
const pages = [
  { name: 'viewer, decoder raced', query: '', counters: viewerCounters },
  { name: 'viewer, createImageBitmap', query: '?decoder=createImageBitmap', counters: viewerCounters },
  { name: 'viewer, ImageDecoder', query: '?decoder=ImageDecoder', counters: viewerCounters },
  {
    name: 'seed page',
    query: '',
    // The seed's page and worker as the tests keep them, byte for byte.
    documentRoot: path.join(root, 'tests', 'browser', 'seed'),
    // A frame counts as drawn when the <img> fires load for it (Chromium may
    // still skip painting some): an upper bound for the seed page.
    install: () => {
      window.loads = 0;
      document.getElementById('liveImg').addEventListener('load', () => { window.loads++; });
    },
    counters: () => ({ received: NaN, drawn: window.loads, method: 'base64 data: URL in <img>' }),
  },
];

const frames = makeFrames(120);
const meanKB = frames.reduce((n, f) => n + f.length, 0) / frames.length / 1024;
const browser = await launchBrowser();
const rows = [];
try {
  for (const variant of pages) {
    const rootArgs = variant.documentRoot ? ['--document-root', variant.documentRoot] : [];
    const launcher = await new Launcher(['--status-interval=0', ...rootArgs, '0', '8090', 'camera']).ready();
    const camera = await startCamera(launcher.ingestPort, { frames, fps: Number(opts.fps) });
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    // The page's main thread: what it costs in responsiveness (the seed decodes
    // base64 off it, but receives, copies and hands each frame over on it).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const mainThreadSeconds = async () =>
      (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
    try {
      await page.goto(`http://localhost:8090/camera${variant.query}`);
      if (variant.install) await page.evaluate(variant.install);
      await waitFor('the first frame drawn', async () => (await page.evaluate(variant.counters)).drawn > 0, 15000);
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
      const sentBefore = camera.sent;
      const before = await page.evaluate(variant.counters);
      const cpuBefore = browserCpuSeconds(launcher.process.pid);
      const mainBefore = await mainThreadSeconds();
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const after = await page.evaluate(variant.counters);
      const cpu = browserCpuSeconds(launcher.process.pid) - cpuBefore;
      const main = (await mainThreadSeconds()) - mainBefore;
      const elapsed = (Date.now() - started) / 1000;
      const drawn = after.drawn - before.drawn;
      rows.push({
        page: variant.name,
        method: after.method,
        'sent fps': ((camera.sent - sentBefore) / elapsed).toFixed(1),
        'received fps': Number.isNaN(after.received) ? '-' : ((after.received - before.received) / elapsed).toFixed(1),
        'drawn fps': (drawn / elapsed).toFixed(1),
        'browser CPU %': ((100 * cpu) / elapsed).toFixed(0),
        'CPU ms/frame': drawn ? ((1000 * cpu) / drawn).toFixed(1) : '-',
        'main thread busy %': ((100 * main) / elapsed).toFixed(1),
      });
    } finally {
      await page.close();
      camera.stop();
      await launcher.stop();
    }
  }
} finally {
  await browser.close();
}
console.log(`${opts.width}x${opts.height} JPEG, mean ${meanKB.toFixed(0)} KB, sent at ${opts.fps} fps for ${seconds} s; ` +
  `headless Chromium ${spawnSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).stdout.trim()}, ` +
  `${os.cpus().length} cores`);
console.table(rows);
