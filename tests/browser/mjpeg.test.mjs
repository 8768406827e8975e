// The stream's MJPEG URL (<path>/stream.mjpeg) in Chromium's plain <img>, as
// a page without JavaScript would show it: at the source's rate, and each
// frame as soon as it arrives rather than when the next one does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, useBrowserAndLaunchers, waitFor } from './harness.mjs';

const env = useBrowserAndLaunchers({ before, after });
const launch = (args) => env.launch(args);

// A page of the test's own at the relay's origin, so that the <img> can be
// read back through a canvas; it polls the image and counts each change of
// its pixels in window.imageChanges.
async function openMjpegPage(launcher) {
  const page = await env.browser.newPage();
  const origin = `http://127.0.0.1:${launcher.webPort}`;
  await page.route(`${origin}/mjpeg-test.html`, (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!DOCTYPE html><body style="margin:0"><img id="stream" src="${launcher.path}/stream.mjpeg"></body>`,
  }));
  await page.goto(`${origin}/mjpeg-test.html`, { waitUntil: 'commit' });
  await page.waitForSelector('#stream', { state: 'attached' });
  await page.evaluate(() => {
    const img = document.getElementById('stream');
    const canvas = new OffscreenCanvas(64, 48);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    let last = -1;
    window.imageChanges = 0;
    window.imageCenter = null;
    const poll = () => {
      if (img.naturalWidth > 0) {
        context.drawImage(img, 0, 0, 64, 48);
        const pixels = context.getImageData(0, 0, 64, 48).data;
        let hash = 2166136261;
        for (let i = 0; i < pixels.length; i += 4) hash = Math.imul(hash ^ (pixels[i] + pixels[i + 1] * 7), 16777619);
        if (hash !== last) {
          window.imageChanges++;
          last = hash;
        }
        const c = (24 * 64 + 32) * 4;
        window.imageCenter = [pixels[c], pixels[c + 1], pixels[c + 2]];
      }
      requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
  return page;
}

// A one-frame JPEG of a plain colour, made with videotestsrc.
function solidJpeg(pattern) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-solid-'));
  const file = path.join(dir, 'frame.jpg');
  const result = spawnSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=1', `pattern=${pattern}`, '!',
    'video/x-raw,width=64,height=48', '!', 'jpegenc', '!', 'filesink', `location=${file}`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`gst-launch-1.0 could not make a ${pattern} JPEG: ${result.stderr}`);
  const jpeg = readFileSync(file);
  rmSync(dir, { recursive: true });
  return jpeg;
}

test('Chromium\'s <img> plays the MJPEG URL at the source\'s rate', async () => {
  const launcher = await launch(['--demo', '--status-interval=0', '0', '0', 'mjpeg']).ready();
  assert.match(launcher.stdout, /^mjpeg: http:\/\/localhost:\d+\/mjpeg\/stream\.mjpeg$/m);
  const page = await openMjpegPage(launcher);
  await waitFor('the first MJPEG frame in the <img>', () => page.evaluate(() => window.imageChanges > 0), 15000);
  const size = await page.evaluate(() => {
    const img = document.getElementById('stream');
    return [img.naturalWidth, img.naturalHeight];
  });
  assert.deepEqual(size, [640, 480]);
  const start = { changes: await page.evaluate(() => window.imageChanges), time: Date.now() };
  await waitFor('3 s of MJPEG frames', () => Date.now() - start.time >= 3000, 5000, 100);
  const changes = await page.evaluate(() => window.imageChanges);
  const fps = (changes - start.changes) * 1000 / (Date.now() - start.time);
  await page.screenshot({ path: path.join(ARTIFACTS, 'mjpeg-img.png') });
  // The demo camera sends 30 fps of a moving ball: every frame differs.
  assert.ok(fps >= 20, `the <img> changed ${fps.toFixed(1)} times per second, not about 30`);
  await page.close();
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

test('Chromium\'s <img> shows each MJPEG frame when it arrives, not one frame late', async () => {
  const launcher = await launch(['--status-interval=0', '0', '0', 'onetime']).ready();
  const camera = await waitFor('the camera connection', () => new Promise((resolve) => {
    const s = net.connect(launcher.ingestPort, '127.0.0.1', () => resolve(s));
    s.once('error', () => resolve(null));
  }));
  const send = (jpeg) => {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64BE(BigInt(jpeg.length));
    camera.write(Buffer.concat([prefix, jpeg]));
  };
  try {
    const page = await openMjpegPage(launcher);
    const centre = () => page.evaluate(() => window.imageCenter);
    const shows = (want) => async () => {
      const c = await centre();
      return c && c.every((value, i) => (want[i] ? value > 180 : value < 80));
    };
    // Each frame is the last one sent: were parts shown only once the next
    // part's headers arrived, the <img> would stay a frame behind.
    send(solidJpeg('red'));
    await waitFor('the red frame in the <img>', shows([1, 0, 0]), 10000);
    send(solidJpeg('blue'));
    await waitFor('the blue frame in the <img> with no frame after it', shows([0, 0, 1]), 3000);
    send(solidJpeg('green'));
    await waitFor('the green frame in the <img> with no frame after it', shows([0, 1, 0]), 3000);
    await page.close();
  } finally {
    camera.destroy();
  }
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});
