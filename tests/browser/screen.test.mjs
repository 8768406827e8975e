// scripts/initiate_screen.sh and scripts/stop_screen.sh, called the way the
// original project called initiate_screen.sh, with a real GNU screen.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';

import { connectViewer, freePort, LAUNCHER, SOURCE_ROOT, startCamera, waitFor } from './harness.mjs';

const INITIATE = path.join(SOURCE_ROOT, 'scripts', 'initiate_screen.sh');
const STOP = path.join(SOURCE_ROOT, 'scripts', 'stop_screen.sh');
const SESSION = `imagestream-test-${process.pid}`;

function run(script, args) {
  return spawnSync(script, args, {
    encoding: 'utf8', timeout: 30000, env: { ...process.env, IMAGESTREAM_LAUNCH: LAUNCHER },
  });
}

function sessionExists(name) {
  const list = spawnSync('screen', ['-ls'], { encoding: 'utf8' }).stdout;
  return list.split('\n').some((line) => new RegExp(`^\\s+\\d+\\.${name}\\s`).test(line));
}

// Pids of launcher processes serving `secret` (argv is LAUNCHER PORT WEB_PORT SECRET).
function launcherPids(secret) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0] === LAUNCHER && argv.includes(secret)) pids.push(Number(pid));
  }
  return pids;
}

after(() => {
  if (sessionExists(SESSION)) spawnSync('screen', ['-S', SESSION, '-X', 'quit']);
});

test('initiate_screen.sh starts a relay in a screen session; stop_screen.sh ends both', async () => {
  const [port, webPort] = [await freePort(), await freePort()];
  const secret = `s${process.pid}x${Date.now()}`;
  const args = [SESSION, 'testing', String(port), 'security', String(webPort), secret];

  const started = run(INITIATE, args);
  assert.equal(started.status, 0, started.stdout + started.stderr);
  assert.equal(started.stdout, `creating screen for project ${SESSION}, descriptor testing\n`);
  await waitFor('the screen session', () => sessionExists(SESSION));

  const viewer = await connectViewer(`ws://127.0.0.1:${webPort}/${secret}`);
  const camera = await startCamera(port);
  try {
    await waitFor('frames through the screen session\'s relay', () => viewer.messages.length >= 5);
  } finally {
    camera.stop();
    viewer.close();
  }
  const pids = launcherPids(secret);
  assert.equal(pids.length, 1, 'one launcher process for the session');

  const again = run(INITIATE, args);
  assert.equal(again.status, 1);
  assert.equal(again.stdout, `creating screen for project ${SESSION}, descriptor testing\nproject name already exists\n`);

  const stopped = run(STOP, [SESSION]);
  assert.equal(stopped.status, 0, stopped.stdout + stopped.stderr);
  assert.equal(sessionExists(SESSION), false, 'the session is still there');
  await waitFor('the launcher process to end', () => launcherPids(secret).length === 0, 5000);
});

test('initiate_screen.sh passes arguments after its six to the launcher (a second --camera)', async () => {
  const session = `${SESSION}-extra`;
  const [port, webPort, secondPort] = [await freePort(), await freePort(), await freePort()];
  const secret = `s${process.pid}y${Date.now()}`;
  const started = run(INITIATE, [session, 'testing', String(port), 'security', String(webPort), secret,
    '--camera', `${secondPort}:${secret}-2`, '--ingest-host', '127.0.0.1']);
  try {
    assert.equal(started.status, 0, started.stdout + started.stderr);
    const viewer = await connectViewer(`ws://127.0.0.1:${webPort}/${secret}-2`);
    const camera = await startCamera(secondPort);
    try {
      await waitFor('the second camera\'s frames at its own path', () => viewer.messages.length >= 5);
    } finally {
      camera.stop();
      viewer.close();
    }
  } finally {
    assert.equal(run(STOP, [session]).status, 0);
  }
  await waitFor('the launcher process to end', () => launcherPids(secret).length === 0, 5000);
});

test('initiate_screen.sh exits 1 with the relay\'s reason when the relay cannot start', async () => {
  const session = `${SESSION}-fails`;
  const taken = net.createServer();
  await new Promise((resolve) => taken.listen(0, '0.0.0.0', resolve));
  const { port } = taken.address();
  try {
    const result = run(INITIATE, [session, 'testing', String(port), 'security', String(await freePort()), 'sec']);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^imagestream-launch failed to start \\(exit 1\\): imagestream-launch: camera port ${port}: ` +
      '.*the port is in use', 'm'));
  } finally {
    taken.close();
    if (sessionExists(session)) spawnSync('screen', ['-S', session, '-X', 'quit']);
  }
});

test('initiate_screen.sh names each empty argument, exit 1', () => {
  const names = ['PROJECT_NAME', 'DESCRIPTOR', 'PORT', 'VIRTUAL_ENV_NAME', 'WEB_STREAM_PORT', 'WEB_SECRET'];
  const full = [`${SESSION}-empty`, 'testing', '5000', 'security', '8090', 'test'];
  names.forEach((name, i) => {
    const args = [...full];
    args[i] = '';
    const result = run(INITIATE, args);
    assert.equal(result.status, 1, name);
    assert.equal(result.stdout, `${name} is empty\n`);
  });
  assert.equal(sessionExists(`${SESSION}-empty`), false);
});

test('stop_screen.sh without such a session says so, exit 1', () => {
  const result = run(STOP, [`${SESSION}-none`]);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, `no screen session named ${SESSION}-none\n`);
  assert.equal(run(STOP, []).status, 1);
});
