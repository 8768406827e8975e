// The backbone's cost, measured: a camera into an origin launcher, a real
// 3-node nats-server cluster, N edge launchers with one viewer each, and one
// viewer on the origin, all on this machine. Prints one JSON line and a
// Markdown table (BENCHMARKS.md, "Beyond one machine").
//
//   node bench/scaleout.mjs [--edges 10] [--seconds 10] [--frame bench/frames/1080p.jpg] [--fps 30]
//
// Latency: from the camera's write to a viewer's read of the whole frame
// (the frame carries its send time after its JPEG end marker). The backbone
// adds what an edge viewer's latency exceeds the origin viewer's, at each
// percentile. CPU: user + system time of each process from /proc over the
// measured seconds. Then the faults, once each: kill -9 of a node an edge
// uses (frames lost at its viewers) and SIGSTOP of a node (the longest gap
// at its edges' viewers and at the others').
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const build = process.env.IMAGESTREAM_BUILD_DIR || path.join(root, 'build');
process.env.IMAGESTREAM_LAUNCH ||= path.join(build, 'launcher', 'imagestream-launch');
process.env.IMAGESTREAM_SOURCE_ROOT ||= root;
const { Launcher, waitFor } = await import('../tests/browser/harness.mjs');
const { NatsCluster, connectTaggedViewer, startTaggedCamera } = await import('../tests/browser/scaleout.mjs');

const { values: opts } = parseArgs({
  options: {
    edges: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    fps: { type: 'string', default: '30' },
    frame: { type: 'string', default: path.join(root, 'bench', 'frames', '1080p.jpg') },
  },
});
const EDGES = Number(opts.edges);
const SECONDS = Number(opts.seconds);
const FPS = Number(opts.fps);
const frame = readFileSync(opts.frame);

const CLOCK_TICKS = 100;
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

const running = [];
function launch(args) {
  const l = new Launcher(['--status-interval=0', '--quiet', ...args]);
  running.push(l);
  return l;
}
const natsConnected = (l) => waitFor('NATS', () => / nats connected: /.test(l.stdout), 15000).then(() => l);

const nats = await new NatsCluster(3).start();
try {
  const origin = await natsConnected(await launch(['--nats', nats.urls([0, 1, 2]), '--nats-subject', 'bench.cam',
    '0', '0', 'bench']).ready());
  const edges = [];
  for (let i = 0; i < EDGES; i++) {
    const home = 1 + (i % 2);  // edges on nodes 1 and 2, the origin on node 0
    edges.push(await natsConnected(await launch(['--nats', nats.urls([home, 3 - home, 0]), '--nats-subject',
      'bench.cam', '-', '0', 'bench']).ready()));
  }
  const originViewer = await connectTaggedViewer(origin.streamUrl);
  const edgeViewers = [];
  for (const e of edges) edgeViewers.push(await connectTaggedViewer(e.streamUrl));
  const camera = await startTaggedCamera(origin.ingestPort, { frames: [frame], fps: FPS });
  await waitFor('frames everywhere', () => [originViewer, ...edgeViewers].every((v) => v.tags.length >= 5), 20000);

  // The measured window.
  const pids = { origin: origin.process.pid, edges: edges.map((e) => e.process.pid),
    nats: nats.nodes.map((n) => n.process.pid) };
  const cpu0 = { origin: cpuSeconds(pids.origin), edges: pids.edges.map(cpuSeconds), nats: pids.nats.map(cpuSeconds) };
  const mark = [originViewer, ...edgeViewers].map((v) => v.latencies.length);
  const sent0 = camera.sent;
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));  // the measured window, on purpose
  const sent = camera.sent - sent0;
  const cpu1 = { origin: cpuSeconds(pids.origin), edges: pids.edges.map(cpuSeconds), nats: pids.nats.map(cpuSeconds) };
  const windowOf = (v, i) => v.latencies.slice(mark[i]);
  const originLat = windowOf(originViewer, 0);
  const edgeLat = edgeViewers.flatMap((v, i) => windowOf(v, i + 1));
  // Frames of the window that each edge viewer got.
  const delivered = edgeViewers.map((v) => v.tags.filter((t) => t >= sent0 && t < sent0 + sent).length);
  const natsCpu = cpu1.nats.reduce((a, b, i) => a + b - cpu0.nats[i], 0);
  const edgeCpu = cpu1.edges.reduce((a, b, i) => a + b - cpu0.edges[i], 0);
  const originCpu = cpu1.origin - cpu0.origin;
  const deliveredMB = (delivered.reduce((a, b) => a + b, 0) * frame.length) / 1e6;
  const result = {
    edges: EDGES, fps: FPS, frame_bytes: frame.length, seconds: SECONDS, sent,
    delivered_min: Math.min(...delivered.map((d) => d / sent)),
    origin_p50_ms: percentile(originLat, 50), origin_p99_ms: percentile(originLat, 99),
    edge_p50_ms: percentile(edgeLat, 50), edge_p99_ms: percentile(edgeLat, 99),
    nats_cpu_ms_per_delivered_mb: (natsCpu * 1000) / deliveredMB,
    edge_cpu_us_per_frame: (edgeCpu * 1e6) / delivered.reduce((a, b) => a + b, 0),
    origin_cpu_us_per_frame: (originCpu * 1e6) / windowOf(originViewer, 0).length,
  };
  result.backbone_p50_ms = result.edge_p50_ms - result.origin_p50_ms;
  result.backbone_p99_ms = result.edge_p99_ms - result.origin_p99_ms;

  // Faults, once each. SIGSTOP of node 2 first, while the edges are spread
  // over nodes 1 and 2: its edges move on; the others must not notice.
  const hungAt = Date.now();
  nats.stop(2);
  await new Promise((resolve) => setTimeout(resolve, 3000));  // three seconds of a hung node, on purpose
  nats.resume(2);
  const gaps = edgeViewers.map((v) => v.longestGap(hungAt));
  const usedHung = edges.map((_, i) => 1 + (i % 2) === 2);
  result.sigstop_longest_gap_ms = Math.max(...gaps.filter((_, i) => usedHung[i]));
  result.sigstop_other_edges_longest_gap_ms = Math.max(...gaps.filter((_, i) => !usedHung[i]));
  // Then kill -9 of node 1, which every edge uses now.
  const lastBefore = camera.sent;
  await nats.kill9(1);
  const upTo = lastBefore + FPS * 2;
  await waitFor('two seconds after the kill', () => edgeViewers.every((v) => v.tags.at(-1) >= upTo), 20000);
  const lost = edgeViewers.map((v) => {
    const got = new Set(v.tags);
    let n = 0;
    for (let t = lastBefore; t <= upTo; t++) if (!got.has(t)) n++;
    return n;
  });
  result.kill9_frames_lost = lost.reduce((a, b) => a + b, 0);
  camera.stop();

  console.log(JSON.stringify(result));
  const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
  console.log(`
| edges | frame | fps | delivered (min over edges) | latency origin viewer p50 / p99 ms | edge viewers p50 / p99 ms | backbone adds p50 / p99 ms | nats-server CPU ms per delivered MB | edge CPU us per frame (origin's) | kill -9 of a node: frames lost | SIGSTOP of a node: longest gap there / elsewhere ms |
|---|---|---|---|---|---|---|---|---|---|---|
| ${EDGES} | ${(frame.length / 1024).toFixed(0)} KB | ${FPS} | ${(result.delivered_min * 100).toFixed(2)}% | ${f(result.origin_p50_ms)} / ${f(result.origin_p99_ms)} | ${f(result.edge_p50_ms)} / ${f(result.edge_p99_ms)} | ${f(result.backbone_p50_ms)} / ${f(result.backbone_p99_ms)} | ${f(result.nats_cpu_ms_per_delivered_mb)} | ${f(result.edge_cpu_us_per_frame)} (${f(result.origin_cpu_us_per_frame)}) | ${result.kill9_frames_lost} | ${result.sigstop_longest_gap_ms} / ${result.sigstop_other_edges_longest_gap_ms} |`);
  for (const v of [originViewer, ...edgeViewers]) v.close();
} finally {
  running.forEach((l) => l.kill());
  nats.close();
}
