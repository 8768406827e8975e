// websocketsink's HTTP Basic logins (auth-users) in Chromium and Firefox: a browser that
// was given the login opens the viewer page and draws frames (its WebSocket
// upgrade carries the credentials the page was opened with), and its
// snapshot and MJPEG <img> load the same way; without the login, or with a
// wrong one, the page and any other path are a 401. The stream is a pipeline of the test's own
// (pipeline.py): the launcher's --auth-users is the launcher's to test.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import { useBrowserAndLaunchers, waitFor } from './harness.mjs';

const env = useBrowserAndLaunchers({ before, after, afterEach });

const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-logins-'));
const users = path.join(dir, 'users');
writeFileSync(users, 'viewer:correct horse battery staple\n', { mode: 0o600 });
after(() => rmSync(dir, { recursive: true, force: true }));

const login = { username: 'viewer', password: 'correct horse battery staple' };

async function camera() {
  return env.pipeline('videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! ' +
    `jpegenc ! websocketsink name=out port=0 path=/cam auth-users=${users}`);
}

// In the page: fetch() of the snapshot, and the MJPEG stream as an <img>,
// both on the page's own origin (so with the login it was opened with).
async function loadSnapshotAndMjpeg() {
  const snapshot = await fetch('/cam/snapshot.jpg', { cache: 'no-store' });
  const img = document.createElement('img');
  img.src = '/cam/stream.mjpeg';
  document.body.append(img);
  await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; });
  return { snapshot: snapshot.status, type: snapshot.headers.get('content-type'), width: img.naturalWidth };
}

// A page in a browser context of its own, with `httpCredentials` or none.
async function openPage(url, httpCredentials) {
  const context = await env.browser.newContext(httpCredentials ? { httpCredentials } : {});
  const page = await context.newPage();
  return { context, page, response: await page.goto(url) };
}

// What Chromium got for `url` last, with `httpCredentials` or none: its
// status and WWW-Authenticate header.
async function answerTo(url, httpCredentials) {
  const context = await env.browser.newContext(httpCredentials ? { httpCredentials } : {});
  try {
    const page = await context.newPage();
    let answer = null;
    page.on('response', (r) => {
      if (r.url() === url) answer = { status: r.status(), challenge: r.headers()['www-authenticate'] || '' };
    });
    await page.goto(url).catch(() => {});
    return answer || { status: 0, challenge: '' };
  } finally {
    await context.close();
  }
}

test('Chromium with the login draws the stream and loads snapshot and MJPEG; without it, or with a wrong one, 401', async () => {
  const pipeline = await camera();
  const url = `http://127.0.0.1:${pipeline.port}/cam`;

  const { context, page, response } = await openPage(url, login);
  try {
    assert.equal(response.status(), 200);
    const drawn = await waitFor('10 frames drawn through the WebSocket', async () => {
      const s = await page.evaluate(() => window.imagestreamStats);
      return s && s.framesDrawn >= 10 && s;
    }, 15000);
    assert.ok(drawn.framesDrawn >= 10);
    const other = await page.evaluate(loadSnapshotAndMjpeg);
    assert.deepEqual(other, { snapshot: 200, type: 'image/jpeg', width: 320 });
  } finally {
    await context.close();
  }

  // Headless Chromium has no one to ask for a login: it receives the 401
  // (seen here as the page's response) and fails the navigation.
  for (const credentials of [null, { username: 'viewer', password: 'wrong' }, { username: 'nobody', password: 'x' }]) {
    for (const target of [url, `http://127.0.0.1:${pipeline.port}/no-such-stream`]) {
      const answer = await answerTo(target, credentials);
      assert.equal(answer.status, 401, `${target} with ${JSON.stringify(credentials)}`);
      assert.match(answer.challenge, /^Basic realm="imagestream"/);
    }
  }
});

// The same in Firefox ESR over WebDriver BiDi: puppeteer's authenticate()
// answers the browser's login prompt, as a user typing it in would; the
// page's WebSocket, its fetch() of the snapshot and the MJPEG <img> then
// carry the login Firefox remembered for the origin.
test('Firefox with the login draws the stream and loads snapshot and MJPEG; without it, 401', async () => {
  const pipeline = await camera();
  const url = `http://127.0.0.1:${pipeline.port}/cam`;

  // First a page that is given a wrong login (Firefox remembers a login for
  // the whole profile once it passed): the answer it shows is the 401.
  const stranger = await env.newPage('firefox', { width: 320, height: 240 });
  await stranger.page.authenticate({ username: 'viewer', password: 'wrong' });
  const response = await stranger.page.goto(url);
  assert.equal(response.status(), 401);
  assert.match(response.headers()['www-authenticate'] || '', /^Basic realm="imagestream"/);
  const frames = await stranger.evaluate(() => window.imagestreamStats?.framesDrawn ?? 0);
  assert.equal(frames, 0);
  await stranger.close();

  const page = await env.newPage('firefox', { width: 320, height: 240 });
  await page.page.authenticate(login);
  await page.goto(url);
  const drawn = await waitFor('10 frames drawn through the WebSocket', async () => {
    const s = await page.stats();
    return s && s.framesDrawn >= 10 && s;
  }, 15000);
  assert.ok(drawn.framesDrawn >= 10);
  const other = await page.evaluate(loadSnapshotAndMjpeg);
  assert.deepEqual(other, { snapshot: 200, type: 'image/jpeg', width: 320 });
  await page.close();

});
