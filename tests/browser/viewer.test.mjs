// Real pages in headless Chromium against the built launcher: the project's
// viewer (web/index.html, served at the stream's own URL) and the seed's
// original page and worker, which must keep working unchanged.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  ARTIFACTS, comparePngs, jpegFrames, meanColor, sendBurst, SOURCE_ROOT, startCamera, useBrowserAndLaunchers, waitFor,
} from './harness.mjs';

const env = useBrowserAndLaunchers({ before, after });
const launch = (args) => env.launch(args);

const stats = (page) => page.evaluate(() => ({ ...window.imagestreamStats }));

test('the viewer page draws moving frames, letterboxed, and counts them', async () => {
  const launcher = await launch(['--demo', '--status-interval=0', '0', '0', 'viewer']).ready();
  // Wider than the 4:3 demo frames, so the picture must be pillarboxed.
  const page = await env.browser.newPage({ viewport: { width: 1000, height: 500 } });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(launcher.pageUrl);

  await waitFor('10 frames drawn', async () => (await stats(page)).framesDrawn >= 10, 15000);
  const first = await stats(page);
  assert.equal(first.connected, true);
  assert.equal(first.width, 640);
  assert.equal(first.height, 480);
  const shotA = await page.screenshot({ path: path.join(ARTIFACTS, 'viewer-a.png') });
  await waitFor('10 more frames drawn', async () => (await stats(page)).framesDrawn >= first.framesDrawn + 10);
  const shotB = await page.screenshot({ path: path.join(ARTIFACTS, 'viewer-b.png') });

  const last = await stats(page);
  assert.ok(last.framesReceived >= last.framesDrawn);
  assert.ok(last.framesReceived <= last.framesDrawn + last.dropped + 2, JSON.stringify(last));

  // The picture is 667x500 in the middle; bars of ~166 px on each side.
  const picture = await comparePngs(env.browser, shotA, shotB, { x: 200, y: 0, width: 600, height: 500 });
  assert.ok(picture.changed > 0.001, `pixels changed between screenshots: ${JSON.stringify(picture)}`);
  assert.ok(picture.lit > 0.5, `the picture is mostly dark: ${JSON.stringify(picture)}`);
  const bar = await comparePngs(env.browser, shotA, shotB, { x: 0, y: 100, width: 150, height: 400 });
  assert.equal(bar.lit, 0, `the left bar is not black: ${JSON.stringify(bar)}`);

  await waitFor('the overlay to show fps and size', async () =>
    /\d+\.\d fps {2}640×480 {2}dropped \d+/.test(await page.textContent('#overlay')));
  // blob: is the decoder Worker, made from the page's own inline source.
  const fetched = requests.filter((url) => !url.startsWith('blob:'));
  assert.deepEqual(fetched, [launcher.pageUrl], 'the page made requests besides itself');
  await page.close();
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

test('the viewer page reconnects when the relay restarts', async () => {
  const first = await launch(['--demo', '--status-interval=0', '0', '0', 'again']).ready();
  const page = await env.browser.newPage();
  await page.goto(first.pageUrl);
  await waitFor('frames drawn', async () => (await stats(page)).framesDrawn >= 3, 15000);
  await first.stop();
  await waitFor('the page to notice', async () => !(await stats(page)).connected);
  const drawn = (await stats(page)).framesDrawn;

  const second = await launch(['--demo', '--status-interval=0', '0', String(first.webPort), 'again']).ready();
  await waitFor('the page to reconnect and draw again', async () => {
    const s = await stats(page);
    return s.connected && s.framesDrawn >= drawn + 3;
  }, 15000);
  await page.close();
  assert.equal((await second.stop()).code, 0, second.stderr);
});

test('two cameras on one web port: each viewer page shows its own camera', async () => {
  const launcher = await launch(['--status-interval=0', '--camera', '0:blue-camera', '0', '0', 'red-camera'])
    .ready(10000, 2);
  const colours = ['red', 'blue'];
  const cameras = [];
  const pages = [];
  try {
    for (const [i, camera] of launcher.cameras.entries()) {
      cameras.push(await startCamera(camera.ingestPort, { frames: jpegFrames(5, 320, 240, colours[i]) }));
      const page = await env.browser.newPage({ viewport: { width: 640, height: 480 } });
      await page.goto(camera.pageUrl);
      pages.push(page);
    }
    for (const page of pages) await waitFor('frames drawn', async () => (await stats(page)).framesDrawn >= 3, 15000);
    for (const [i, page] of pages.entries()) {
      const shot = await page.screenshot({ path: path.join(ARTIFACTS, `two-cameras-${colours[i]}.png`) });
      const c = await meanColor(env.browser, shot, { x: 160, y: 120, width: 320, height: 240 });
      const [own, other] = i === 0 ? [c.r, c.b] : [c.b, c.r];
      assert.ok(own > 150 && other < 80, `page ${launcher.cameras[i].path} is not ${colours[i]}: ${JSON.stringify(c)}`);
    }
  } finally {
    cameras.forEach((c) => c.stop());
    for (const page of pages) await page.close();
  }
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

test('a burst of frames: the viewer decodes one at a time and counts the frames it skips as dropped', async () => {
  const launcher = await launch(['--status-interval=0', '0', '0', 'burst']).ready();
  const page = await env.browser.newPage();
  await page.goto(launcher.pageUrl);
  await waitFor('the page to connect', async () => (await stats(page)).connected);
  await sendBurst(launcher.ingestPort, jpegFrames(60, 1920, 1080));
  // Settled: every frame received was either drawn or dropped.
  const settled = await waitFor('the burst to be drawn or dropped', async () => {
    const s = await stats(page);
    return s.framesReceived > 0 && s.framesReceived === s.framesDrawn + s.dropped + s.decodeErrors && s;
  }, 15000);
  assert.equal(settled.decodeErrors, 0);
  assert.ok(settled.dropped > 0, `a burst of 1080p frames was decoded whole: ${JSON.stringify(settled)}`);
  assert.deepEqual([settled.width, settled.height], [1920, 1080]);
  await page.close();
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

// The seed's index.html and worker.js, byte for byte as the seed document
// shows them, kept in the tree as a fixture (tests/browser/seed/).
const SEED_ROOT = path.join(SOURCE_ROOT, 'tests', 'browser', 'seed');

test('the seed page and worker, unchanged, show the stream', async () => {
  const root = SEED_ROOT;
  assert.match(readFileSync(path.join(root, 'index.html'), 'utf8'), /ws:\/\/localhost:8090\/camera/);
  // The seed page dials ws://localhost:8090/camera, so this relay must be there.
  const launcher = await launch(['--demo', '--status-interval=0', '--document-root', root, '0', '8090', 'camera'])
    .ready();
  const page = await env.browser.newPage();
  await page.goto('http://localhost:8090/camera');
  // Counted from outside the page, which stays exactly as the seed wrote it.
  await page.evaluate(() => {
    window.seedFrames = new Set();
    const img = document.getElementById('liveImg');
    new MutationObserver(() => window.seedFrames.add(img.src.length + ':' + img.src.slice(-64)))
      .observe(img, { attributes: true, attributeFilter: ['src'] });
  });
  await waitFor('5 different frames in the seed page', () => page.evaluate(() => {
    const img = document.getElementById('liveImg');
    return window.seedFrames.size >= 5 && img.complete && img.naturalWidth > 0;
  }), 20000);
  const img = await page.evaluate(() => {
    const el = document.getElementById('liveImg');
    return { src: el.src.slice(0, 30), naturalWidth: el.naturalWidth, naturalHeight: el.naturalHeight };
  });
  assert.equal(img.src.slice(0, 23), 'data:image/jpeg;base64,');
  assert.deepEqual([img.naturalWidth, img.naturalHeight], [640, 480]);
  await page.screenshot({ path: path.join(ARTIFACTS, 'seed-page.png') });
  await page.close();
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});
