// imagestream-launch from the outside: what a user runs and what they see.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import {
  connectViewer, isJpeg, jpegFrames, jpegSize, LAUNCHER, Launcher, runLauncher, sendBurst, startCamera, waitFor,
  WebSocket,
} from './harness.mjs';

// The local time that starts every log line after the start-up lines.
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d';

const running = [];
function launch(args) {
  const launcher = new Launcher(args);
  running.push(launcher);
  return launcher;
}
after(() => running.forEach((l) => l.kill()));

test('positional form relays every camera frame unchanged to a WebSocket viewer', async () => {
  const launcher = await launch(['--status-interval=1', '0', '0', 'relay-secret']).ready();
  assert.match(launcher.stdout, /^ingest: tcp:\/\/0\.0\.0\.0:\d+$/m);
  assert.match(launcher.stdout, /^viewer: http:\/\/localhost:\d+\/relay-secret {2}\(WebSocket ws:\/\/localhost:\d+\/relay-secret\)$/m);

  const viewer = await connectViewer(launcher.streamUrl);
  const frames = jpegFrames();
  const camera = await startCamera(launcher.ingestPort, { frames });
  try {
    await waitFor('10 frames at the viewer', () => viewer.messages.length >= 10);
    const sent = new Set(frames.map((f) => f.toString('base64')));
    for (const message of viewer.messages) assert.ok(sent.has(message.toString('base64')), 'frame altered in transit');
    await waitFor('a status line counting the camera and the viewer', () =>
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d status: in [1-9][\d.]* fps [\d.]+ MB\/s, cameras 1, viewers 1, dropped \d+ \(slow viewers\) 0 \(ingest\)$/m
        .test(launcher.stdout));
  } finally {
    camera.stop();
    viewer.close();
  }
  const exit = await launcher.stop('SIGTERM');
  assert.equal(exit.code, 0, launcher.stderr);
});

test('--camera: cameras on one web port, each viewer gets only its own camera\'s frames, unchanged', async () => {
  const launcher = await launch(['--status-interval=1', '--camera', '0:second', '0', '0', 'first']).ready(10000, 2);
  const [first, second] = launcher.cameras;
  assert.equal(launcher.cameras.length, 2);
  assert.equal(first.webPort, second.webPort, 'the cameras are on different web ports');
  assert.deepEqual([first.path, second.path], ['/first', '/second']);
  assert.notEqual(first.ingestPort, second.ingestPort);
  assert.match(launcher.stdout, /^snapshot: http:\/\/localhost:\d+\/second\/snapshot\.jpg$/m);

  const framesA = jpegFrames(30, 320, 240, 'ball');
  const framesB = jpegFrames(30, 160, 120, 'snow');
  const viewers = [await connectViewer(first.streamUrl), await connectViewer(second.streamUrl)];
  const cameras = [await startCamera(first.ingestPort, { frames: framesA }),
    await startCamera(second.ingestPort, { frames: framesB })];
  try {
    await waitFor('10 frames at each viewer', () => viewers.every((v) => v.messages.length >= 10));
    const sets = [framesA, framesB].map((frames) => new Set(frames.map((f) => f.toString('base64'))));
    viewers.forEach((viewer, i) => {
      for (const message of viewer.messages) {
        assert.ok(sets[i].has(message.toString('base64')), `viewer ${i} got a frame that is not its camera's`);
      }
    });
    // One status line, each camera's part named by its ingest port.
    const part = (port) => `\\[port ${port}\\] in [1-9][\\d.]* fps [\\d.]+ MB/s, cameras 1, viewers 1, dropped \\d+ ` +
      '\\(slow viewers\\) 0 \\(ingest\\)';
    const status = new RegExp(`^${TIME} status: ${part(first.ingestPort)}; ${part(second.ingestPort)}$`, 'm');
    await waitFor('a status line with both cameras', () => status.test(launcher.stdout));
  } finally {
    cameras.forEach((c) => c.stop());
    viewers.forEach((v) => v.close());
  }
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

// A viewer of a video stream: the text messages (JSON) and the frames'
// 14-byte headers, as plugins/videoformat.h documents them.
async function connectVideoViewer(url) {
  const viewer = await connectViewer(url);
  viewer.texts = [];
  viewer.frames = [];
  viewer.ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      viewer.texts.push(JSON.parse(data.toString()));
      return;
    }
    const b = Buffer.from(data);
    viewer.frames.push({ kind: b[0], key: (b[1] & 1) === 1, sequence: b.readUInt32BE(2), bytes: b.length - 14 });
  });
  return viewer;
}

for (const [codec, codecString] of [['vp8', /^vp8$/], ['h264', /^avc1\.[0-9a-f]{6}$/]]) {
  test(`--video ${codec}: a configuration, then frames from a key frame on, and JPEG beside them`, async () => {
    const launcher = await launch(['--demo', '--status-interval=0', '--video', codec, '0', '0', `v-${codec}`]).ready();
    assert.match(launcher.stdout, new RegExp(`^video: ${codec === 'vp8' ? 'VP8' : 'H\\.264'} at 2000 kbit/s, a key frame ` +
      `at least every 2 s; the JPEG frames at http://localhost:\\d+/v-${codec}/jpeg$`, 'm'));
    const viewer = await connectVideoViewer(launcher.streamUrl);
    try {
      // Generous: the encoder shares two cores with whatever else the tests run.
      await waitFor('10 video frames', () => viewer.frames.length >= 10, 30000);
      const config = viewer.texts.find((t) => t.type === 'config');
      assert.ok(config, JSON.stringify(viewer.texts));
      assert.match(config.codec, codecString);
      assert.deepEqual([config.codedWidth, config.codedHeight], [640, 480]);
      assert.equal(viewer.frames[0].key, true, 'the first frame is not a key frame');
      assert.ok(viewer.frames.every((f) => f.kind === 1 && f.bytes > 0));
      // In order and without gaps: nothing was dropped for this viewer.
      viewer.frames.forEach((f, i) => i && assert.equal(f.sequence, viewer.frames[i - 1].sequence + 1));
      const jpeg = await connectViewer(launcher.streamUrl + '/jpeg');
      await waitFor('JPEG frames at /jpeg', () => jpeg.messages.length >= 5);
      assert.ok(jpeg.messages.every(isJpeg));
      jpeg.close();
      const snapshot = await fetch(launcher.pageUrl + '/snapshot.jpg');
      assert.equal(snapshot.status, 200);
      assert.equal(snapshot.headers.get('content-type'), 'image/jpeg');
    } finally {
      viewer.close();
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  });
}

test('--filter with a real transform delivers the transformed frames', async () => {
  const launcher = await launch([
    '--status-interval=0', '--filter', 'jpegdec ! videoscale ! video/x-raw,width=160,height=120 ! jpegenc',
    '0', '0', 'scaled',
  ]).ready();
  const viewer = await connectViewer(launcher.streamUrl);
  const camera = await startCamera(launcher.ingestPort, { frames: jpegFrames(30, 320, 240) });
  try {
    await waitFor('5 frames at the viewer', () => viewer.messages.length >= 5);
    for (const message of viewer.messages) {
      assert.ok(isJpeg(message));
      assert.deepEqual(jpegSize(message), { width: 160, height: 120 });
    }
  } finally {
    camera.stop();
    viewer.close();
  }
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

test('recording with --filter (tee to splitmuxsink): every frame in the file, finished at SIGTERM', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-rec-'));
  try {
    const filter = 'tee name=rec ! queue ! identity rec. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ' +
      `! jpegparse ! splitmuxsink muxer-factory=matroskamux location=${dir}/cam-%05d.mkv`;
    const launcher = await launch(['--status-interval=0', '--filter', filter, '0', '0', 'rec']).ready();
    // A camera at 30 fps for 60 frames: each frame stamped with its own arrival.
    const framesIn = async () => (await (await fetch(`${launcher.pageUrl}/stats.json`)).json()).totals.frames_in;
    const camera = await startCamera(launcher.ingestPort, { frames: jpegFrames(30, 320, 240) });
    await waitFor('60 frames', () => camera.sent >= 60);
    camera.stop();
    const sent = camera.sent;
    await waitFor('every frame through the relay', async () => (await framesIn()) === sent);
    assert.equal((await launcher.stop('SIGTERM')).code, 0, launcher.stderr);
    const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v',
      '-show_entries', 'stream=nb_read_frames,codec_name,width,height', '-of', 'json', `${dir}/cam-00000.mkv`],
    { encoding: 'utf8' });
    assert.equal(probe.status, 0, probe.stderr);
    const [stream] = JSON.parse(probe.stdout).streams;
    assert.deepEqual([stream.codec_name, stream.width, stream.height, Number(stream.nb_read_frames)],
      ['mjpeg', 320, 240, sent]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--demo streams a moving test pattern with no camera attached', async () => {
  const launcher = await launch(['--demo', '--status-interval=0', '0', '0', 'demo']).ready();
  assert.match(launcher.stdout, /^demo: /m);
  const viewer = await connectViewer(launcher.streamUrl);
  try {
    await waitFor('10 demo frames at the viewer', () => viewer.messages.length >= 10);
    assert.ok(viewer.messages.every(isJpeg));
    assert.deepEqual(jpegSize(viewer.messages[0]), { width: 640, height: 480 });
    const distinct = new Set(viewer.messages.map((m) => m.toString('base64')));
    assert.ok(distinct.size > 1, 'the demo frames do not change');
  } finally {
    viewer.close();
  }
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

test('SIGTERM and SIGINT stop a relay with viewers and a camera promptly, exit 0', async () => {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    const launcher = await launch(['--status-interval=0', '0', '0', 'stop-me']).ready();
    const viewer = await connectViewer(launcher.streamUrl);
    const camera = await startCamera(launcher.ingestPort);
    await waitFor('frames flowing', () => viewer.messages.length >= 3);
    const exit = await launcher.stop(signal, 5000);
    camera.stop();
    assert.equal(exit.code, 0, `${signal}: ${launcher.stderr}`);
    assert.ok(exit.ms < 3000, `${signal} took ${exit.ms} ms`);
    await waitFor('the viewer to be disconnected', () => viewer.closed, 5000);
  }
});

test('--tls-cert and --tls-key serve the stream over wss', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-tls-'));
  const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
  const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  assert.equal(openssl.status, 0, openssl.stderr);
  try {
    const launcher = await launch(['--status-interval=0', '--tls-cert', cert, '--tls-key', key, '0', '0', 'secure'])
      .ready();
    assert.match(launcher.stdout, /^viewer: https:\/\/localhost:\d+\/secure {2}\(WebSocket wss:\/\/localhost:\d+\/secure\)$/m);
    // Self-signed: the test trusts it explicitly.
    const viewer = await connectViewer(launcher.streamUrl, { rejectUnauthorized: false });
    const camera = await startCamera(launcher.ingestPort);
    try {
      await waitFor('3 frames over wss', () => viewer.messages.length >= 3);
      assert.ok(viewer.messages.every(isJpeg));
    } finally {
      camera.stop();
      viewer.close();
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('--allowed-origins lets listed pages connect and refuses others', async () => {
  const launcher = await launch(['--status-interval=0', '--allowed-origins', 'https://cameras.example', '0', '0', 'o'])
    .ready();
  const allowed = await connectViewer(launcher.streamUrl, { origin: 'https://cameras.example' });
  allowed.close();
  const refused = await new Promise((resolve) => {
    const ws = new WebSocket(launcher.streamUrl, { origin: 'https://elsewhere.example' });
    ws.once('open', () => { ws.terminate(); resolve(false); });
    ws.once('error', () => resolve(true));
  });
  assert.ok(refused, 'a page from another origin connected');
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

test('--max-frame-size: a camera announcing more is disconnected with a warning', async () => {
  const launcher = await launch(['--status-interval=0', '--max-frame-size', '1000', '0', '0', 'small']).ready();
  await sendBurst(launcher.ingestPort, jpegFrames(1));
  await waitFor('the warning', () =>
    new RegExp(`^${TIME} imagestream-launch: warning: .*above max-frame-size`, 'm').test(launcher.stderr));
  await waitFor('the camera to be gone', () =>
    new RegExp(`^${TIME} camera disconnected: .* \\(port ${launcher.ingestPort}, oversized\\)$`, 'm').test(launcher.stdout));
  assert.equal((await launcher.stop()).code, 0, launcher.stderr);
});

async function occupiedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '0.0.0.0', resolve));
  return server;
}

test('an ingest port in use: one line naming the port, exit 1', async () => {
  const server = await occupiedPort();
  const { port } = server.address();
  try {
    const result = runLauncher(['--status-interval=0', String(port), '0', 'x']);
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], new RegExp(`^imagestream-launch: camera port ${port}: Cannot listen on 0\\.0\\.0\\.0 port ${port}: ` +
      'the port is in use \\(give another port, or 0 for any free one\\)$'));
  } finally {
    server.close();
  }
});

test('a web port in use: one line naming the port, exit 1', async () => {
  const server = await occupiedPort();
  const { port } = server.address();
  try {
    const result = runLauncher(['--status-interval=0', '0', String(port), 'x']);
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], new RegExp(`^imagestream-launch: web port ${port}: Cannot listen on 0\\.0\\.0\\.0 port ${port}: ` +
      'the port is in use \\(give another WEB_PORT, or 0 for any free one\\)$'));
  } finally {
    server.close();
  }
});

test('a --filter whose elements cannot agree on a format: one line naming the filter, exit 1', async () => {
  const filter = 'jpegdec ! video/x-raw,width=100 ! jpegenc';
  const launcher = await launch(['--demo', '--status-interval=0', '--filter', filter, '0', '0', 'nego']).ready();
  const exit = await launcher.stop('SIGCONT', 10000);  // it exits by itself once the frames fail
  assert.equal(exit.code, 1, launcher.stderr);
  assert.match(launcher.stderr, new RegExp(`^${TIME} imagestream-launch: --filter '${filter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' ` +
    'cannot take the camera\'s frames \\(image/jpeg\\) or give them on', 'm'));
  assert.doesNotMatch(launcher.stderr, /Internal data stream error/);
});

test('--quiet leaves out the viewer lines, --verbose names the camera\'s path in them', async () => {
  const cases = [['--quiet', null], ['--verbose', / viewer connected: \S+ at \/lines-verbose$/m],
    [null, new RegExp(`^${TIME} viewer connected: [\\d.]+:\\d+$`, 'm')]];
  for (const [flag, line] of cases) {
    const secret = `lines-${flag ? flag.slice(2) : 'default'}`;
    const launcher = await launch(['--status-interval=0', ...(flag ? [flag] : []), '0', '0', secret]).ready();
    const viewer = await connectViewer(launcher.streamUrl);
    viewer.close();
    if (line) {
      await waitFor(`the viewer line with ${flag || 'no option'}`, () => line.test(launcher.stdout));
    } else {
      // Absent, judged once a later line is there: the camera's, which comes
      // after the viewer has come and gone.
      await waitFor('the viewer to be gone', () => viewer.closed);
      await sendBurst(launcher.ingestPort, jpegFrames(1));
      await waitFor('the camera line', () => /camera disconnected/.test(launcher.stdout));
      assert.doesNotMatch(launcher.stdout, / viewer (connected|disconnected): /);
    }
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  }
});

test('an unreadable TLS certificate: one line naming the file, exit 1', () => {
  const missing = '/nonexistent/imagestream-cert.pem';
  const result = runLauncher(['--status-interval=0', '--tls-cert', missing, '--tls-key', missing, '0', '0', 'x']);
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr.trim(), new RegExp(`^imagestream-launch: .*${missing}`));
});

test('bad arguments: one line, then the usage, exit 2', () => {
  const cases = [
    [[], /expected PORT WEB_PORT SECRET/],
    [['5000', '8090'], /expected PORT WEB_PORT SECRET/],
    [['5000', '8090', 'camera', 'extra'], /too many arguments/],
    [['five', '8090', 'camera'], /PORT must be a number from 0 to 65535 \(or - for an edge\), not "five"/],
    [['5000', '70000', 'camera'], /WEB_PORT must be a number/],
    [['5000', '8090', 'a/b'], /SECRET must be/],
    [['--no-such-option', '5000', '8090', 'camera'], /Unknown option --no-such-option/],
    [['--tls-cert', 'c.pem', '5000', '8090', 'camera'], /--tls-cert and --tls-key go together/],
    [['--filter', 'nosuchelement', '0', '0', 'camera'], /--filter: .*nosuchelement/],
    [['--camera', '5001', '5000', '8090', 'camera'], /--camera takes INGEST_PORT:SECRET\[:NATS_SUBJECT\] .*not "5001"/],
    [['--camera', 'x:y', '5000', '8090', 'camera'], /--camera takes INGEST_PORT:SECRET/],
    [['--camera', '5001:a/b', '5000', '8090', 'camera'], /--camera takes INGEST_PORT:SECRET/],
    [['--camera', '5001:camera', '5000', '8090', 'camera'], /two cameras have the secret "camera"/],
    [['--camera', '5000:other', '5000', '8090', 'camera'], /two cameras send to port 5000/],
    [['--camera', '8090:other', '5000', '8090', 'camera'], /camera port 8090 is also the web port/],
    [['8090', '8090', 'camera'], /camera port 8090 is also the web port/],
    [['--video', 'mpeg2', '5000', '8090', 'camera'], /--video takes vp8, vp9 or h264, not "mpeg2"/],
    [['-', '8090', 'camera'], /a camera without a port \(-\) needs --nats to get frames/],
    [['--nats', 'nats://127.0.0.1:4222', '5000', '8090', 'camera'], /--nats needs --nats-subject/],
    [['--nats', 'nats://x:1', '--nats-subject', 's', '--camera', '5001:c2', '5000', '8090', 'c'],
      /with --nats, each --camera names its subject: INGEST_PORT:SECRET:NATS_SUBJECT/],
    [['--nats-subject', 's', '5000', '8090', 'camera'], /--nats-subject needs --nats/],
    [['--nats', 'nats://x:1', '--nats-subject', 's', '--video', 'vp8', '-', '8090', 'camera'],
      /--video belongs on the origin/],
    [['--video', 'vp8', '--bitrate', '0', '5000', '8090', 'camera'], /--bitrate must be from 1 to 100000 kbit\/s/],
  ];
  for (const [args, message] of cases) {
    const result = runLauncher(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    const [first, ...rest] = result.stderr.split('\n');
    assert.match(first, new RegExp(`^imagestream-launch: ${message.source}`), args.join(' '));
    assert.match(rest.join('\n'), /Usage:\n\s+imagestream-launch \[OPTION.*\] PORT WEB_PORT SECRET/, args.join(' '));
  }
});

test('an ingest open beyond loopback is warned about; --allowed-senders refuses other cameras', async () => {
  const open = await launch(['--status-interval=0', '0', '0', 'open']).ready();
  await waitFor('the warning', () => /^imagestream-launch: warning: camera port \d+ listens on 0\.0\.0\.0 with no --allowed-senders/m
    .test(open.stderr));
  const local = await launch(['--status-interval=0', '--ingest-host', '127.0.0.1', '0', '0', 'local']).ready();
  const listed = await launch(['--status-interval=0', '--allowed-senders', '127.0.0.2/32,::1', '0', '0', 'listed'])
    .ready();
  for (const l of [local, listed]) assert.doesNotMatch(l.stderr, /no --allowed-senders/);
  // This test's camera sends from 127.0.0.1, which the list does not name.
  const viewer = await connectViewer(listed.streamUrl);
  await sendBurst(listed.ingestPort, jpegFrames(3));
  await waitFor('the refusal', () =>
    new RegExp(`^${TIME} imagestream-launch: warning: Refused sender 127\\.0\\.0\\.1:\\d+: not in allowed-senders`, 'm')
      .test(listed.stderr));
  assert.equal(viewer.messages.length, 0);
  assert.doesNotMatch(listed.stdout, /camera connected/);
  viewer.close();
  for (const l of [open, local, listed]) assert.equal((await l.stop()).code, 0, l.stderr);
});

test('--auth-users: the page and the stream need a login, a viewer with one gets frames', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-users-'));
  try {
    writeFileSync(path.join(dir, 'users'), 'alice:wonderland\n');
    const launcher = await launch(['--demo', '--status-interval=0', '--auth-users', path.join(dir, 'users'), '0', '0',
      'login']).ready();
    const basic = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;
    assert.equal((await fetch(launcher.pageUrl)).status, 401);
    assert.equal((await fetch(launcher.pageUrl, { headers: { authorization: basic } })).status, 200);
    const viewer = await connectViewer(launcher.streamUrl, { headers: { authorization: basic } });
    await waitFor('frames with a login', () => viewer.messages.length >= 3);
    viewer.close();
    const refused = await new Promise((resolve) => {
      const ws = new WebSocket(launcher.streamUrl);
      ws.once('open', () => { ws.terminate(); resolve(false); });
      ws.once('error', () => resolve(true));
    });
    assert.ok(refused, 'a viewer without a login connected');
    assert.equal((await launcher.stop()).code, 0, launcher.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the launcher raises its soft file descriptor limit to the hard one', async () => {
  // Started with a low soft limit, as many systems start services.
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))[1];
  const child = spawn('prlimit', [`--nofile=256:${hard}`, LAUNCHER, '--status-interval=0', '0', '0', 'fds'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    await waitFor('the start-up lines', () => /^viewer: /m.test(stdout));
    const limits = readFileSync(`/proc/${child.pid}/limits`, 'utf8');
    const [, soft, now] = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
    assert.equal(now, hard, limits);
    assert.equal(soft, hard, limits);
  } finally {
    child.kill('SIGKILL');
  }
});

test('--help and --version exit 0', () => {
  const help = runLauncher(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--filter=PIPELINE/);
  const version = runLauncher(['--version']);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^imagestream-launch \d+\.\d+\.\d+ \(GStreamer /);
});
