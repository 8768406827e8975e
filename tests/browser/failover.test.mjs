// The viewer page behind the balancer, in Chromium and Firefox: opened at
// haproxy's URL (redirect mode, as docs/scale-out.md sets it up), served by
// one of two edges of an origin over a 1-node NATS cluster. When its edge
// dies (kill -9) or hangs (SIGSTOP), the page asks the balancer again and
// draws frames from the other edge, without a reload.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';

import { jpegFrames, useBrowserAndLaunchers, waitFor } from './harness.mjs';
import { NatsCluster, startBalancer, startTaggedCamera } from './scaleout.mjs';

const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d';
const FRAMES = jpegFrames(30, 160, 120);
const env = useBrowserAndLaunchers({ before, after, afterEach });
let cleanups = [];
afterEach(() => {
  cleanups.reverse().forEach((f) => f());
  cleanups = [];
});

// Epoch ms as the page's stats give them (performance.timeOrigin + now()).
const epochNow = () => performance.timeOrigin + performance.now();

async function launch(args) {
  const launcher = await env.launch(['--status-interval=0', ...args]).ready();
  await waitFor('the NATS connection', () => new RegExp(`^${TIME} nats connected: `, 'm').test(launcher.stdout), 10000);
  return launcher;
}

// An origin with a 30 fps camera, two edges (CORS for the page's fetch
// through the balancer), haproxy in front; resolves once haproxy sends
// viewers to both edges.
async function originEdgesAndBalancer(secret) {
  const nats = new NatsCluster(1);
  cleanups.push(() => nats.close());
  await nats.start().catch((e) => {
    throw new Error(`${e.message}; nats-server said: ${nats.nodes.map((n) => n.stderr).join('\n')}`);
  });
  const subject = `cam.${secret}`;
  const origin = await launch(['--nats', nats.urls(), '--nats-subject', subject, '0', '0', secret]);
  const camera = await startTaggedCamera(origin.ingestPort, { frames: FRAMES, fps: 30 });
  cleanups.push(() => camera.stop());
  const edges = [];
  for (let i = 0; i < 2; i++) {
    edges.push(await launch(['--cors-origins', '*', '--nats', nats.urls(), '--nats-subject', subject, '-', '0', secret]));
  }
  const balancer = await startBalancer(edges.map((e) => e.webPort), `/${secret}`);
  cleanups.push(() => balancer.close());
  const seen = new Set();
  await waitFor('haproxy to redirect to both edges', async () => {
    const r = await fetch(`${balancer.entry}/${secret}`, { redirect: 'manual' }).catch(() => null);
    if (r && r.status === 302) seen.add(new URL(r.headers.get('location')).host);
    return seen.size === 2;
  }, 10000);
  return { edges, balancer, pageUrl: `${balancer.entry}/${secret}` };
}

// Opens the page at the balancer; once it draws, returns the edge that
// serves it and the other one. window.marker tells a reload.
async function openAtBalancer(newPage, setup) {
  const page = await newPage();
  await page.goto(setup.pageUrl);
  await waitFor('frames drawn', async () => (await page.stats()).framesDrawn >= 5, 10000);
  const at = await page.evaluate(() => {
    window.marker = 1;
    return { host: location.host, origin: location.origin, search: location.search, edge: window.imagestreamStats.edge };
  });
  assert.match(at.search, /[?&]entry=/, 'haproxy did not add entry= to the page\'s URL');
  assert.equal(at.edge, at.origin);
  const served = setup.edges.find((e) => `127.0.0.1:${e.webPort}` === at.host);
  assert.ok(served, `the page is at ${at.host}, no edge's`);
  const other = setup.edges.find((e) => e !== served);
  return { page, at, served, other, otherOrigin: `http://127.0.0.1:${other.webPort}` };
}

// Waits for frames from `otherOrigin`; checks the page did not reload and its
// WebSocket is at the other edge; returns the page's last outage.
async function assertMovedTo(page, at, other, otherOrigin, timeoutMs) {
  let last = null;
  const s = await waitFor('frames drawn from the other edge', async () => {
    last = await page.stats();
    return last.lastOutage && last.lastOutage.to === otherOrigin && last.connected && last;
  }, timeoutMs).catch((e) => {
    throw new Error(`${e.message}; the page's stats: ${JSON.stringify(last)}`);
  });
  const after = await page.evaluate(() => ({ marker: window.marker, host: location.host }));
  assert.deepEqual(after, { marker: 1, host: at.host }, 'the page reloaded or navigated');
  assert.equal(s.edge, otherOrigin);
  assert.equal(s.lastOutage.from, at.origin);
  assert.equal(s.outages, 1, JSON.stringify(s));
  assert.ok(s.edgeChanges === 1 && s.edgeSearches >= 1, JSON.stringify(s));
  assert.equal(s.workerErrors, 0, s.lastError);
  const relay = await (await fetch(`${otherOrigin}/${other.path.slice(1)}/stats.json`)).json();
  assert.ok(relay.totals.websocket_viewers >= 1, `the other edge has no WebSocket viewer: ${JSON.stringify(relay.totals)}`);
  // Its links follow (the path is the secret: in the links only).
  const links = await page.evaluate(() => [...document.querySelectorAll('#overlay a')].map((a) => a.href));
  links.forEach((href) => assert.ok(href.startsWith(`${otherOrigin}/`), href));
  return s;
}

env.forEachBrowser((name, newPage) => {
  test(`behind haproxy, the page draws again from the other edge within 1.5 s of its edge's kill -9, without a reload [${name}]`, async () => {
    const setup = await originEdgesAndBalancer('failover');
    const { page, at, served, other, otherOrigin } = await openAtBalancer(newPage, setup);
    // Another viewer comes in first, so that round robin sends the page's
    // first search to the edge that is about to die (haproxy notices within
    // about 250 ms): the page must retry.
    const r = await fetch(setup.pageUrl, { redirect: 'manual' });
    assert.equal(new URL(r.headers.get('location')).host, `127.0.0.1:${other.webPort}`);
    const killedAt = epochNow();
    served.kill();
    const s = await assertMovedTo(page, at, other, otherOrigin, 10000);
    const fromKill = s.lastOutage.backAt - killedAt;
    console.log(`[${name}] kill -9 of the edge: frames again ${fromKill.toFixed(0)} ms after it; the page ` +
      `measured ${s.lastOutage.ms.toFixed(0)} ms from its WebSocket's close, ${s.lastOutage.gapMs.toFixed(0)} ms ` +
      `without frames; ${s.edgeSearches} search(es) of the balancer`);
    assert.ok(fromKill < 1500, `frames again ${fromKill.toFixed(0)} ms after the kill`);
  });

  test(`behind haproxy, the page leaves an edge that hangs (SIGSTOP) for the other, without a reload [${name}]`, async () => {
    const setup = await originEdgesAndBalancer('hang');
    const { page, at, served, other, otherOrigin } = await openAtBalancer(newPage, setup);
    const hungAt = epochNow();
    served.process.kill('SIGSTOP');
    // The socket stays open: the page waits OFFLINE_AFTER_MS (2 s) for a
    // frame, then CAMERA_STATUS_TIMEOUT_MS (2 s) for its probe of stats.json.
    const s = await assertMovedTo(page, at, other, otherOrigin, 15000);
    const fromHang = s.lastOutage.backAt - hungAt;
    console.log(`[${name}] SIGSTOP of the edge: frames again ${fromHang.toFixed(0)} ms after it; the page ` +
      `measured ${s.lastOutage.gapMs.toFixed(0)} ms without frames, ${s.lastOutage.ms.toFixed(0)} ms from leaving the edge`);
    // Offline is seen at the page's next 1 s tick after 2 s without a frame;
    // the probe gets 2 s; then the search and the new connection.
    assert.ok(fromHang < 5000 + 3000, `frames again ${fromHang.toFixed(0)} ms after the hang`);
  });
});
