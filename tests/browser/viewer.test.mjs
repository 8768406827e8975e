// Real pages in headless Chromium and Firefox ESR against the built launcher:
// the project's viewer (web/index.html, served at the stream's own URL) on
// streams of images (JPEG, PNG, and bytes that are neither), its overlay, and
// the seed's original page and worker, which must keep working unchanged.
// The viewer on encoded video: video.test.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import {
  ARTIFACTS, comparePngs, jpegFrames, meanColor, pngFrames, sendBurst, SOURCE_ROOT, startCamera, useBrowserAndLaunchers, waitFor,
} from './harness.mjs';

const env = useBrowserAndLaunchers({ before, after, afterEach });
const launch = (args) => env.launch(args);

// The page's stats once `condition(stats)` holds.
function statsWhen(page, what, condition, timeoutMs = 10000) {
  return waitFor(what, async () => {
    const s = await page.stats();
    return condition(s) && s;
  }, timeoutMs);
}

// Requests other than the page itself: not the decoder Worker (blob:), the
// empty icon (data:), nor the WebSocket (Firefox reports its handshake).
const otherRequests = (page, pageUrl) =>
  page.requests.filter((url) => !url.startsWith('blob:') && !url.startsWith('data:') && url !== pageUrl);

// Everything the overlay shows from now on, collected in the page.
async function recordOverlay(page) {
  await page.evaluate(() => {
    const overlay = document.getElementById('overlay');
    window.overlayTexts = new Set([overlay.textContent]);
    new MutationObserver(() => window.overlayTexts.add(overlay.textContent))
      .observe(overlay, { subtree: true, childList: true, characterData: true });
  });
}
const overlayTexts = (page) => page.evaluate(() => [...window.overlayTexts, document.body.innerText]);

env.forEachBrowser((name, newPage) => {
  test(`the viewer page draws moving JPEG frames, letterboxed, and counts them [${name}]`, async () => {
    const launcher = await launch(['--demo', '--status-interval=0', '0', '0', 'viewer']).ready();
    // Wider than the 4:3 demo frames, so the picture must be pillarboxed.
    const page = await newPage({ width: 1000, height: 500 });
    await page.goto(launcher.pageUrl);

    const first = await statsWhen(page, '10 frames drawn', (s) => s.framesDrawn >= 10, 15000);
    assert.equal(first.connected, true);
    assert.deepEqual([first.width, first.height, first.codec, first.mode], [640, 480, 'jpeg', 'image']);
    const shotA = await page.screenshot(`viewer-${name}-a.png`);
    await statsWhen(page, '10 more frames drawn', (s) => s.framesDrawn >= first.framesDrawn + 10);
    const shotB = await page.screenshot(`viewer-${name}-b.png`);

    const last = await page.stats();
    assert.ok(last.framesReceived >= last.framesDrawn);
    assert.ok(last.framesReceived <= last.framesDrawn + last.dropped + 2, JSON.stringify(last));
    assert.equal(last.decodeErrors, 0);
    assert.equal(last.workerErrors, 0, last.lastError);

    // The picture is 667x500 in the middle; bars of ~166 px on each side.
    const picture = await comparePngs(env.browser, shotA, shotB, { x: 200, y: 0, width: 600, height: 500 });
    assert.ok(picture.changed > 0.001, `pixels changed between screenshots: ${JSON.stringify(picture)}`);
    assert.ok(picture.lit > 0.5, `the picture is mostly dark: ${JSON.stringify(picture)}`);
    // Above the overlay, which sits in the bottom-left corner.
    const bar = await comparePngs(env.browser, shotA, shotB, { x: 0, y: 0, width: 150, height: 400 });
    assert.equal(bar.lit, 0, `the left bar is not black: ${JSON.stringify(bar)}`);

    await waitFor('the overlay to show codec, fps, size and bitrate', async () =>
      /jpeg {2}\d+\.\d\sfps {2}640×480 {2}[\d.]+\s[kM]B\/s {2}dropped\s\d+/.test(await page.text('#overlay')));
    assert.deepEqual(otherRequests(page, launcher.pageUrl), [], 'the page made requests besides itself');
    await page.close();
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  });

  test(`the viewer page reconnects when the relay restarts, without showing its URL [${name}]`, async () => {
    const first = await launch(['--demo', '--status-interval=0', '0', '0', 'again-secret']).ready();
    const page = await newPage();
    await page.goto(first.pageUrl);
    await statsWhen(page, 'frames drawn', (s) => s.framesDrawn >= 3, 15000);
    await first.stop();
    await waitFor('the page to say it reconnects', async () => (await page.text('#status')) === 'reconnecting…');
    const drawn = (await page.stats()).framesDrawn;

    const second = await launch(['--demo', '--status-interval=0', '0', String(first.webPort), 'again-secret']).ready();
    await statsWhen(page, 'the page to reconnect and draw again', (s) => s.connected && s.framesDrawn >= drawn + 3, 15000);
    await page.close();
    assert.equal((await second.stop()).code, 0, second.stderr);
  });

  test(`the viewer page decodes a PNG stream [${name}]`, async () => {
    const launcher = await launch(['--status-interval=0', '0', '0', 'png']).ready();
    const camera = await startCamera(launcher.ingestPort, { frames: pngFrames(30, 320, 240) });
    try {
      const page = await newPage({ width: 320, height: 240 });
      await page.goto(launcher.pageUrl);
      const first = await statsWhen(page, '10 PNG frames drawn', (s) => s.framesDrawn >= 10, 15000);
      const shotA = await page.screenshot(`png-${name}-a.png`);
      await statsWhen(page, '10 more frames drawn', (s) => s.framesDrawn >= first.framesDrawn + 10);
      const shotB = await page.screenshot(`png-${name}-b.png`);
      const last = await page.stats();
      assert.deepEqual([last.codec, last.width, last.height], ['png', 320, 240]);
      assert.equal(last.decodeErrors, 0, last.lastError);
      assert.equal(last.workerErrors, 0, last.lastError);
      const picture = await comparePngs(env.browser, shotA, shotB);
      assert.ok(picture.changed > 0.001, `pixels changed between screenshots: ${JSON.stringify(picture)}`);
      await page.close();
    } finally {
      camera.stop();
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  });

  test(`frames that do not decode are shown as an error, with the reason and a count [${name}]`, async () => {
    const launcher = await launch(['--status-interval=0', '0', '0', 'garbage']).ready();
    // What websocketsink relays from raw video caps: pixels, no image format.
    const raw = Buffer.alloc(320 * 240 * 2, 0x10);
    const camera = await startCamera(launcher.ingestPort, { frames: [raw], fps: 10 });
    try {
      const page = await newPage();
      await page.goto(launcher.pageUrl);
      await waitFor('the overlay to show the decode errors', async () =>
        /^cannot decode frames: not a JPEG or PNG image \(it starts 10 10 10 10\), [3-9]\d* errors$/
          .test(await page.text('#status')), 10000);
      const s = await page.stats();
      assert.equal(s.framesDrawn, 0);
      assert.equal(s.workerErrors, 0, s.lastError);
      await page.screenshot(`decode-errors-${name}.png`);
      await page.close();
    } finally {
      camera.stop();
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  });

  test(`a corrupt frame now and then does not put a decoder out of the race [${name}]`, async () => {
    const launcher = await launch(['--status-interval=0', '0', '0', 'corrupt']).ready();
    // A JPEG marker, then nothing a decoder can read: every 15th frame.
    const corrupt = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 0x55)]);
    const frames = [corrupt, ...jpegFrames(14, 320, 240)];
    const camera = await startCamera(launcher.ingestPort, { frames });
    try {
      const page = await newPage();
      await page.goto(launcher.pageUrl);
      const s = await statsWhen(page, 'the race to end with errors and frames',
        (st) => st.decoder !== 'choosing' && st.decodeErrors >= 2 && st.framesDrawn >= 30, 20000);
      assert.equal(s.decoders.length, 2, `a decoder left the race over a corrupt frame: ${JSON.stringify(s.decoders)}`);
      assert.equal(s.workerErrors, 0, s.lastError);
      // Drawing again after each error: the error does not stay on screen.
      await statsWhen(page, 'a frame drawn after the last error', (st) => !st.failing);
      await page.close();
    } finally {
      camera.stop();
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  });

  test(`a camera that stops: "camera offline, last frame N s ago", counting up, then frames again [${name}]`, async () => {
    const launcher = await launch(['--status-interval=0', '0', '0', 'offline']).ready();
    let camera = await startCamera(launcher.ingestPort);
    const page = await newPage();
    try {
      await page.goto(launcher.pageUrl);
      await statsWhen(page, 'frames drawn', (s) => s.framesDrawn >= 5, 15000);
      camera.stop();
      const ago = async () => Number((/^camera offline, last frame (\d+) s ago$/.exec(await page.text('#status')) || [])[1]);
      const firstAge = await waitFor('the offline message', ago, 6000);
      assert.ok(firstAge >= 2 && firstAge <= 3, `first shown at ${firstAge} s`);
      await waitFor('the age to count up', async () => (await ago()) >= firstAge + 2, 6000);
      const s = await page.stats();
      assert.equal(s.offline, true);
      assert.equal(s.camera?.connected, false, `stats.json's camera: ${JSON.stringify(s.camera)}`);
      // A problem stays on screen even when the pointer is idle.
      assert.equal(await page.evaluate(() => document.body.classList.contains('idle')), true);
      assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('overlay')).visibility), 'visible');
      await page.screenshot(`offline-${name}.png`);

      camera = await startCamera(launcher.ingestPort);
      await waitFor('the stats line back', async () => /\d+\.\d\sfps/.test(await page.text('#status')), 10000);
      assert.equal((await page.stats()).offline, false);
    } finally {
      camera.stop();
      await page.close();
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  });

  test(`the overlay: at the bottom, unclipped on a phone, hides when idle, o and a button toggle it, full screen, never the path [${name}]`, async () => {
    const launcher = await launch(['--demo', '--status-interval=0', '0', '0', 'overlay-secret-path']).ready();
    const page = await newPage({ width: 320, height: 568 });
    await page.goto(launcher.pageUrl);
    await recordOverlay(page);
    await waitFor('the stats line', async () => /\d+\.\d\sfps/.test(await page.text('#status')), 15000);
    await page.mouseMove(160, 300);

    const layout = await page.evaluate(() => {
      const box = (id) => {
        const r = document.getElementById(id).getBoundingClientRect();
        return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
      };
      const overlay = document.getElementById('overlay');
      return {
        overlay: box('overlay'), controls: box('controls'),
        overflow: overlay.scrollWidth - overlay.clientWidth,
        visibility: getComputedStyle(overlay).visibility,
      };
    });
    const { overlay, controls } = layout;
    assert.equal(layout.visibility, 'visible');
    assert.ok(overlay.left >= 0 && overlay.right <= 320 && overlay.bottom <= 568, JSON.stringify(layout));
    assert.ok(overlay.top > 568 / 2, `the overlay is not at the bottom: ${JSON.stringify(layout)}`);
    assert.ok(layout.overflow <= 0, `the overlay is clipped: ${JSON.stringify(layout)}`);
    assert.ok(controls.right <= 320 && controls.left >= overlay.right, `the buttons overlap: ${JSON.stringify(layout)}`);
    await page.screenshot(`overlay-phone-${name}.png`);

    const visible = (id) => page.evaluate((i) => getComputedStyle(document.getElementById(i)).visibility === 'visible', id);
    await waitFor('the overlay and buttons to hide when idle', async () => !(await visible('overlay')) && !(await visible('controls')), 6000);
    await page.screenshot(`overlay-idle-${name}.png`);
    await page.mouseMove(100, 100);
    await waitFor('the overlay back on pointer movement', async () => (await visible('overlay')) && (await visible('controls')));

    await page.press('o');
    await waitFor('o to hide the overlay', async () => !(await visible('overlay')));
    assert.equal(await visible('controls'), true);
    await page.press('o');
    await waitFor('o to show it again', () => visible('overlay'));
    await page.click('#overlay-button');
    await waitFor('the button to hide it', async () => !(await visible('overlay')));
    await page.click('#overlay-button');
    await waitFor('the button to show it again', () => visible('overlay'));

    await page.click('#fullscreen-button');
    await waitFor('the page in full screen', () => page.evaluate(() => document.fullscreenElement === document.documentElement));
    await page.click('#fullscreen-button');
    await waitFor('full screen left', () => page.evaluate(() => document.fullscreenElement === null));

    // Reconnecting: the state that used to print the stream's URL.
    await launcher.stop();
    await waitFor('reconnecting', async () => (await page.text('#status')) === 'reconnecting…');
    const texts = await overlayTexts(page);
    for (const text of texts) assert.ok(!text.includes('overlay-secret-path'), `the path is on screen: ${text}`);
    assert.ok(texts.length >= 3, JSON.stringify(texts));
    await page.close();
  });
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
      const page = await env.newPage('chromium', { width: 640, height: 480 });
      await page.goto(camera.pageUrl);
      pages.push(page);
    }
    for (const page of pages) await statsWhen(page, 'frames drawn', (s) => s.framesDrawn >= 3, 15000);
    for (const [i, page] of pages.entries()) {
      const shot = await page.screenshot(`two-cameras-${colours[i]}.png`);
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
  const page = await env.newPage('chromium');
  await page.goto(launcher.pageUrl);
  await statsWhen(page, 'the page to connect', (s) => s.connected);
  await sendBurst(launcher.ingestPort, jpegFrames(60, 1920, 1080));
  // Settled: every frame received was either drawn or dropped.
  const settled = await statsWhen(page, 'the burst to be drawn or dropped', (s) =>
    s.framesReceived > 0 && s.framesReceived === s.framesDrawn + s.dropped + s.decodeErrors, 15000);
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
