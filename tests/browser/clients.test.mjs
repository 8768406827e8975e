// Clients nobody here wrote, as Debian ships them, reading the launcher's
// stream: ffmpeg on stream.mjpeg and snapshot.jpg, GStreamer's souphttpsrc !
// multipartdemux ! jpegdec, and Python's websockets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { isJpeg, jpegSize, Launcher, waitFor } from './harness.mjs';

const running = [];
after(() => running.forEach((l) => l.kill()));

let relay;
async function demoRelay() {
  if (relay) return relay;
  relay = new Launcher(['--demo', '--status-interval=0', '--quiet', '0', '0', 'clients']);
  running.push(relay);
  await relay.ready();
  await waitFor('a frame', async () => (await fetch(`${relay.pageUrl}/snapshot.jpg`)).status === 200);
  return relay;
}

// Runs a program to its end (at most `timeoutMs`); resolves with its exit code and output.
function run(program, args, { timeoutMs = 20000, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('ffmpeg reads stream.mjpeg into whole JPEG frames, and snapshot.jpg', async () => {
  const launcher = await demoRelay();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagestream-ffmpeg-'));
  try {
    const mjpeg = await run('ffmpeg', ['-v', 'error', '-use_wallclock_as_timestamps', '1', '-i',
      `${launcher.pageUrl}/stream.mjpeg`, '-frames:v', '10', '-c', 'copy', '-f', 'image2', `${dir}/f%02d.jpg`]);
    assert.equal(mjpeg.code, 0, mjpeg.stderr);
    const files = readdirSync(dir).filter((f) => f.startsWith('f'));
    assert.equal(files.length, 10);
    for (const f of files) {
      const bytes = readFileSync(path.join(dir, f));
      assert.ok(isJpeg(bytes), f);
      assert.deepEqual(jpegSize(bytes), { width: 640, height: 480 });
    }
    const snapshot = await run('ffmpeg', ['-v', 'error', '-i', `${launcher.pageUrl}/snapshot.jpg`, '-f', 'null', '-']);
    assert.equal(snapshot.code, 0, snapshot.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GStreamer\'s souphttpsrc ! multipartdemux ! jpegdec decodes stream.mjpeg', async () => {
  const launcher = await demoRelay();
  // The system's GStreamer, none of the project's elements.
  const result = await run('gst-launch-1.0', ['-q', 'souphttpsrc', `location=${launcher.pageUrl}/stream.mjpeg`,
    'is-live=true', '!', 'multipartdemux', '!', 'jpegdec', '!', 'identity', 'eos-after=15', '!', 'fakesink'],
  { env: { GST_PLUGIN_PATH: '', GST_PLUGIN_PATH_1_0: '' } });
  assert.equal(result.code, 0, result.stdout + result.stderr);
});

test('Python\'s websockets receives binary JPEG messages', async () => {
  const launcher = await demoRelay();
  const script = `
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url, max_size=None) as ws:
        for _ in range(10):
            m = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(m, bytes) and m[:2] == b'\\xff\\xd8' and m[-2:] == b'\\xff\\xd9', m[:16]
    print('ok')
asyncio.run(main(sys.argv[1]))
`;
  // Debian's python, which has python3-websockets (the pyenv one on PATH does not).
  const result = await run('/usr/bin/python3', ['-c', script, launcher.streamUrl]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'ok');
});
