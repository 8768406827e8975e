// The viewer page (web/index.html) on encoded video in headless Chromium and
// Firefox ESR: VP8 and H.264 from the launcher (--video), and from pipelines of
// the tests' own (pipeline.py) where a test needs a stream the launcher does
// not make: a key frame every 2 s, a bitrate that fills a stalled viewer's
// socket, a resolution change mid-stream. The wire format: plugins/videoformat.h.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, afterEach, before, test } from 'node:test';

import { comparePngs, connectViewer, meanColor, meanColors, useBrowserAndLaunchers, waitFor } from './harness.mjs';

const env = useBrowserAndLaunchers({ before, after, afterEach });

// The page's stats once `condition(stats)` holds; on a timeout, the error
// shows the last ones.
async function statsWhen(page, what, condition, timeoutMs = 10000) {
  let last = null;
  try {
    return await waitFor(what, async () => {
      last = await page.stats();
      return condition(last) && last;
    }, timeoutMs);
  } catch (e) {
    e.message += `\nstats: ${JSON.stringify(last)}`;
    throw e;
  }
}

// Zero-latency encoders (docs: the encoded-video notes), a key frame every
// `keyEvery` frames.
const encoders = {
  vp8: (bitrate, keyEvery) => `vp8enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=${bitrate * 1000} ` +
    `lag-in-frames=0 error-resilient=default keyframe-max-dist=${keyEvery} threads=2`,
  h264: (bitrate, keyEvery) => `x264enc tune=zerolatency speed-preset=ultrafast bitrate=${bitrate} key-int-max=${keyEvery} ` +
    '! video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline',
};

// A live test pattern, encoded, at ws://127.0.0.1:PORT/v (the capsfilter is
// named "size", for a resolution change).
function videoPipeline({ pattern = 'ball', width = 320, height = 240, codec = 'vp8', bitrate = 500, keyEvery = 60 } = {}) {
  return env.pipeline(`videotestsrc is-live=true pattern=${pattern} ! ` +
    `capsfilter name=size caps=video/x-raw,width=${width},height=${height},framerate=30/1 ! ` +
    `${encoders[codec](bitrate, keyEvery)} ! websocketsink name=out port=0 path=/v`);
}
const pipelineUrl = (pipeline, query = '') => `http://127.0.0.1:${pipeline.port}/v${query}`;

// The rule a viewer of video must keep, from the page's own counters: every
// restart (configure, gap, skip, error) went on at a key frame (but the one
// that waits for its key frame now), and no delta went to the decoder
// without the frame before it.
function assertKeyFrameRule(s) {
  assert.equal(s.deltasWithoutReference, 0, `a delta was decoded without its reference: ${JSON.stringify(s.lastDecoded)}`);
  assert.equal(s.resyncsOnKey, s.resyncs - (s.waitingForKey ? 1 : 0),
    `a restart did not begin at a key frame: ${JSON.stringify(s)}`);
  s.lastDecoded.forEach((f, i) => i && !f.key && assert.equal(f.sequence, s.lastDecoded[i - 1].sequence + 1,
    `delta ${f.sequence} after ${s.lastDecoded[i - 1].sequence}`));
}

env.forEachBrowser((name, newPage) => {
  for (const [codec, codecString, label] of [['vp8', /^vp8$/, 'VP8'], ['h264', /^avc1\.[0-9a-f]{6}$/, 'H.264']]) {
    test(`${label} from imagestream-launch --video plays: frames drawn rise, the picture moves, no decoder error [${name}]`, async () => {
      const launcher = await env.launch(['--demo', '--video', codec, '--status-interval=0', '0', '0', `play-${codec}`]).ready();
      const page = await newPage({ width: 640, height: 480 });
      await page.goto(launcher.pageUrl);
      const first = await statsWhen(page, '10 frames drawn', (s) => s.framesDrawn >= 10, 15000);
      assert.equal(first.mode, 'video');
      assert.match(first.codec, codecString);
      assert.deepEqual([first.width, first.height], [640, 480]);
      const shotA = await page.screenshot(`video-${codec}-${name}-a.png`);
      await statsWhen(page, '20 more frames drawn', (s) => s.framesDrawn >= first.framesDrawn + 20);
      const shotB = await page.screenshot(`video-${codec}-${name}-b.png`);
      const picture = await comparePngs(env.browser, shotA, shotB, { x: 0, y: 0, width: 640, height: 400 });
      assert.ok(picture.changed > 0.001, `pixels changed between screenshots: ${JSON.stringify(picture)}`);
      // The ball and the time on black.
      assert.ok(picture.lit > 0.004, `the picture is black: ${JSON.stringify(picture)}`);
      const s = await page.stats();
      assert.equal(s.decodeErrors, 0, s.lastError);
      assert.equal(s.workerErrors, 0, s.lastError);
      assert.ok(s.keyFramesDecoded >= 1 && s.framesDecoded >= s.framesDrawn, JSON.stringify(s));
      assertKeyFrameRule(s);
      await waitFor('the overlay to show codec, fps, size and bitrate', async () =>
        new RegExp(`^${s.codec.replace('.', '\\.')} {2}\\d+\\.\\d\\sfps {2}640×480 {2}[\\d.]+\\skB/s {2}dropped\\s\\d+$`)
          .test(await page.text('#status')));
      await page.close();
      assert.equal((await launcher.stop()).code, 0, launcher.stderr);
    });
  }

  test(`a viewer that stops reading for 3 s resumes at a key frame, never decodes a delta without its reference, and is back to full rate [${name}]`, async (t) => {
    // Noise at 2 Mbit/s: 3 s of it fill the socket, the relay skips this
    // viewer to a key frame (a gap); where the browser reads on regardless
    // (Firefox queues the messages), the page finds its decoder behind and
    // skips to a key frame itself.
    const pipeline = await videoPipeline({ pattern: 'snow', bitrate: 2000, keyEvery: 30 });
    const page = await newPage({ width: 320, height: 240 });
    await page.goto(pipelineUrl(pipeline, '?testhook=1'));
    const before = await statsWhen(page, '30 frames drawn', (s) => s.framesDrawn >= 30, 15000);
    await page.evaluate(() => window.imagestreamTest.stall(3000));
    const resumed = await statsWhen(page, 'frames again after a skip to a key frame', (s) =>
      s.gaps + s.skippedToKey > 0 && s.framesDrawn >= before.framesDrawn + 30 && !s.waitingForKey, 15000);
    assertKeyFrameRule(resumed);
    t.diagnostic(`gaps ${resumed.gaps} (the relay skipped), skipped to a key frame ${resumed.skippedToKey} (the page did)`);
    const full = await statsWhen(page, 'full rate and low latency again', (s) => s.fps >= 24 && s.relayToDrawMs < 250, 10000);
    assertKeyFrameRule(full);
    assert.equal(full.decodeErrors, 0, full.lastError);
    assert.equal(full.workerErrors, 0, full.lastError);
    await page.close();
    await pipeline.stop();
  });

  test(`a viewer joining mid-stream, 2 s between key frames, shows a first picture within 300 ms [${name}]`, async (t) => {
    const pipeline = await videoPipeline({ keyEvery: 60 });
    // Watches the stream from outside: the page joins once the newest key
    // frame is 1 s old. The relay asks the encoder for a key frame when a
    // viewer joins a long group of pictures, so one may come just before the
    // page does: then it joins again (at most 3 times).
    const watcher = await connectViewer(`ws://127.0.0.1:${pipeline.port}/v`);
    const keys = () => watcher.messages.map((m) => ((m[1] & 1) === 1 ? 'K' : '.')).join('');
    let joined = null;
    for (let attempt = 0; attempt < 3 && !joined; attempt++) {
      await waitFor('a group of pictures 30 frames long', () => keys().length - 1 - keys().lastIndexOf('K') >= 30, 10000)
        .catch((e) => { throw new Error(`${e.message}; key frames: ${keys()}`); });
      const page = await newPage({ width: 320, height: 240 });
      await page.goto(pipelineUrl(pipeline));
      const s = await statsWhen(page, 'a first picture', (st) => st.firstFrameMs >= 0, 10000);
      if (s.catchupFrames >= 20) {
        joined = { page, s };
      } else {
        await page.close();
      }
    }
    watcher.close();
    assert.ok(joined, `no join mid-stream in 3 attempts; key frames: ${keys()}`);
    const { page, s } = joined;
    t.diagnostic(`first picture ${s.firstFrameMs.toFixed(0)} ms after the WebSocket opened, ${s.catchupFrames} catch-up frames`);
    assert.ok(s.firstFrameMs < 300, `first picture after ${s.firstFrameMs} ms (${s.catchupFrames} catch-up frames)`);
    // Decoded all of the run, drew two of it: its key frame (the first
    // picture) and its last (live again).
    const later = await statsWhen(page, 'more frames', (st) => st.framesDrawn >= 10);
    assert.ok(later.framesDecoded >= later.framesDrawn + s.catchupFrames - 2, JSON.stringify(later));
    assert.equal(later.decodeErrors, 0, later.lastError);
    assertKeyFrameRule(later);
    await page.screenshot(`video-join-${name}.png`);
    await page.close();
    await pipeline.stop();
  });

  test(`a resolution change mid-stream: a new configuration, then the right picture at the new size [${name}]`, async () => {
    const pipeline = await videoPipeline({ pattern: 'smpte', width: 320, height: 180 });
    const page = await newPage({ width: 640, height: 360 });
    await page.goto(pipelineUrl(pipeline));
    // SMPTE bars, top two thirds: grey, yellow, cyan, green, magenta, red, blue.
    const bars = [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]];
    const assertBars = async (file) => {
      const shot = await page.screenshot(file);
      const colours = await meanColors(env.browser, shot,
        bars.map((_, i) => ({ x: Math.round((i + 0.3) * 640 / 7), y: 60, width: 30, height: 100 })));
      for (const [i, c] of colours.entries()) {
        const off = Math.max(...['r', 'g', 'b'].map((k, j) => Math.abs(c[k] - bars[i][j])));
        assert.ok(off < 50, `bar ${i} of ${file} is ${JSON.stringify(c)}, not ${bars[i]}`);
      }
    };
    const small = await statsWhen(page, 'frames at 320×180', (s) => s.framesDrawn >= 10 && s.width === 320, 15000);
    await assertBars(`video-caps-${name}-320.png`);
    await pipeline.set('size', 'caps', 'video/x-raw,width=640,height=360,framerate=30/1');
    const big = await statsWhen(page, '10 frames at 640×360', (s) =>
      s.width === 640 && s.height === 360 && s.framesDrawn >= small.framesDrawn + 10);
    assert.equal(big.configs, small.configs + 1);
    assert.equal(big.decodeErrors, 0, big.lastError);
    assertKeyFrameRule(big);
    await assertBars(`video-caps-${name}-640.png`);
    await page.close();
    await pipeline.stop();
  });

  // Over plain http from another machine, a page is no secure context, and
  // browsers offer no WebCodecs there: the page shows the MJPEG stream.
  const lanAddress = Object.values(os.networkInterfaces()).flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  test(`without WebCodecs (plain http, not localhost) the page shows <path>/stream.mjpeg and says why [${name}]`,
    { skip: lanAddress ? false : 'no IPv4 address but loopback' }, async () => {
      const launcher = await env.launch(['--demo', '--video', 'vp8', '--status-interval=0', '0', '0', 'fallback-secret']).ready();
      const page = await newPage({ width: 640, height: 480 });
      const pageUrl = `http://${lanAddress}:${launcher.webPort}${launcher.path}`;
      await page.goto(pageUrl);
      await statsWhen(page, 'the MJPEG fallback', (s) => s.mode === 'mjpeg');
      await waitFor('the MJPEG image', () => page.evaluate(() => document.getElementById('mjpeg').naturalWidth === 640));
      assert.equal(await page.text('#status'), 'MJPEG: this browser has no WebCodecs VideoDecoder (it needs https or localhost)');
      assert.equal(await page.evaluate(() => document.getElementById('view').hidden), true);
      const shot = await page.screenshot(`video-fallback-${name}.png`);
      const c = await meanColor(env.browser, shot, { x: 0, y: 0, width: 640, height: 400 });
      assert.ok(c.r > 10, `the MJPEG picture is black: ${JSON.stringify(c)}`);
      const fetched = page.requests.filter((u) => !u.startsWith('blob:') && !u.startsWith('data:') && u !== pageUrl);
      assert.deepEqual(fetched, [`${pageUrl}/stream.mjpeg`]);
      await page.close();
      assert.equal((await launcher.stop()).code, 0, launcher.stderr);
    });
});
