#!/usr/bin/python3
"""A throttled viewer for bench/video.mjs: a raw WebSocket client with a small
receive buffer (SO_RCVBUF, set before connecting, so that the TCP window stays
small) that reads for a while, stops reading for a while, then reads again.

    video_stall.py HOST PORT PATH [--rcvbuf BYTES] [--read S] [--stall S] [--after S]

Prints one JSON object: {"stall_start": t, "stall_end": t, "messages":
[[t, bytes, head, md5], ...]}: t is when the message's last byte was read
(time.time(), seconds since the epoch), head the first 14 bytes in hex (a
video frame's header, plugins/videoformat.h), md5 the first 12 hex digits of
the message's MD5 (tells which JPEG it was); text messages have md5 "text".
Only the standard library.
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('host')
    parser.add_argument('port', type=int)
    parser.add_argument('path')
    parser.add_argument('--rcvbuf', type=int, default=16384)
    parser.add_argument('--read', type=float, default=2.0)
    parser.add_argument('--stall', type=float, default=3.0)
    parser.add_argument('--after', type=float, default=6.0)
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.connect((args.host, args.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f'GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nUpgrade: websocket\r\n'
                  f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
    buf = b''
    while b'\r\n\r\n' not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit('connection closed during the handshake')
        buf += chunk
    head, buf = buf.split(b'\r\n\r\n', 1)
    if b' 101 ' not in head.split(b'\r\n', 1)[0]:
        sys.exit(f'no upgrade: {head[:200]!r}')

    messages = []
    partial = []  # fragments of a message not finished yet
    partial_text = False

    def parse():
        """Takes the complete WebSocket frames off `buf`."""
        nonlocal buf, partial, partial_text
        while True:
            if len(buf) < 2:
                return
            opcode = buf[0] & 0x0f
            fin = buf[0] & 0x80
            length = buf[1] & 0x7f
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], 'big')
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], 'big')
                offset = 10
            if buf[1] & 0x80:
                offset += 4  # a server does not mask; tolerate it anyway (the key is not applied)
            if len(buf) < offset + length:
                return
            payload = buf[offset:offset + length]
            buf = buf[offset + length:]
            if opcode == 0x8:
                raise EOFError
            if opcode in (0x9, 0xa):
                continue  # ping, pong: the relay's keepalive; a reply is not needed for seconds
            if opcode in (0x1, 0x2):
                partial = [payload]
                partial_text = opcode == 0x1
            else:
                partial.append(payload)
            if fin:
                data = b''.join(partial)
                partial = []
                md5 = 'text' if partial_text else hashlib.md5(data).hexdigest()[:12]
                messages.append([time.time(), len(data), data[:14].hex(), md5])

    def read_until(deadline):
        nonlocal buf
        while True:
            left = deadline - time.time()
            if left <= 0:
                return
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return
            if not chunk:
                raise EOFError
            buf += chunk
            parse()

    start = time.time()
    result = {}
    try:
        read_until(start + args.read)
        result['stall_start'] = time.time()
        time.sleep(args.stall)
        result['stall_end'] = time.time()
        read_until(result['stall_end'] + args.after)
    except EOFError:
        result['closed'] = time.time()
    result['messages'] = messages
    json.dump(result, sys.stdout)
    sock.close()


if __name__ == '__main__':
    main()
