#!/usr/bin/python3
"""Python peer relay in the design of the original system (see
shared/notes/original-system.md): a thread runs a select() loop over the ingest
listener and its senders and reads each frame whole from one socket; a tornado
WebSocketHandler serves the viewers. The only change from the original is that
the reader thread hands each frame to the IOLoop with add_callback instead of
writing from its own thread, which current tornado refuses.

    /usr/bin/python3 python_relay.py INGEST_PORT WS_PORT [SECRET]

Run it with Debian's python3 and python3-tornado."""

import select
import socket
import struct
import sys
import threading

import tornado.ioloop
import tornado.web
import tornado.websocket

viewers = set()


class ViewerHandler(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def open(self):
        viewers.add(self)

    def on_close(self):
        viewers.discard(self)

    def on_message(self, message):
        if isinstance(message, str):
            self.write_message("You said: " + message)


def broadcast(frame):
    for viewer in list(viewers):
        try:
            viewer.write_message(frame, binary=True)
        except tornado.websocket.WebSocketClosedError:
            viewers.discard(viewer)


def recv_exact(sock, n):
    """Returns n bytes, or None when the sender went away."""
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def ingest_loop(port, loop):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(10)
    senders = []
    while True:
        readable, _, _ = select.select([listener] + senders, [], [])
        for sock in readable:
            if sock is listener:
                conn, _ = listener.accept()
                senders.append(conn)
                continue
            prefix = recv_exact(sock, 8)
            frame = recv_exact(sock, struct.unpack(">Q", prefix)[0]) if prefix else None
            if frame is None:
                senders.remove(sock)
                sock.close()
                continue
            loop.add_callback(broadcast, frame)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: python_relay.py INGEST_PORT WS_PORT [SECRET]")
    ingest_port, ws_port = int(sys.argv[1]), int(sys.argv[2])
    secret = sys.argv[3] if len(sys.argv) > 3 else "camera"
    app = tornado.web.Application([("/" + secret, ViewerHandler)])
    app.listen(ws_port, address="127.0.0.1")
    loop = tornado.ioloop.IOLoop.current()
    threading.Thread(target=ingest_loop, args=(ingest_port, loop), daemon=True).start()
    loop.start()


if __name__ == "__main__":
    main()
