// Node.js peer relay, written the way a JavaScript developer would write it
// with the `ws` package and its defaults: a TCP server reads length-prefixed
// frames (8-byte big-endian length, then the payload) and every frame is sent
// to every open WebSocket client.
//
//   node node_relay.mjs INGEST_PORT WS_PORT [SECRET]
import net from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';

const [ingestPort, wsPort, secret = 'camera'] = process.argv.slice(2);
if (!ingestPort || !wsPort) {
  console.error('usage: node node_relay.mjs INGEST_PORT WS_PORT [SECRET]');
  process.exit(2);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(wsPort), path: `/${secret}` });

wss.on('connection', (ws) => {
  // Same behaviour as the original relay: text is echoed, binary ignored.
  ws.on('message', (data, isBinary) => {
    if (!isBinary) ws.send(`You said: ${data}`);
  });
  ws.on('error', () => {});
});

function broadcast(frame) {
  for (const client of wss.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(frame);
  }
}

const ingest = net.createServer((socket) => {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = Number(pending.readBigUInt64BE(0));
      if (pending.length < 8 + size) break;
      broadcast(pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  });
  socket.on('error', () => {});
});
ingest.listen(Number(ingestPort), '127.0.0.1');
