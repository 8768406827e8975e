#!/usr/bin/python3
"""How long each of the launcher's video encoders holds a frame: JPEG frames
pushed at FPS through `jpegdec ! videoconvert ! ENCODER` (ENCODER as
kVideoCodecs in launcher/ has it, %u = the bitrate),
once with caps without a frame rate (framerate=0/1, as a camera's frames
reach the launcher's encoder) and once with framerate=FPS/1. Per frame: from
its push to its encoded buffer, matched by PTS (x264enc's offset removed).
At a low FPS one frame of lag is unmistakable (1/FPS more).

    bench/video/encoder_delay.py [--fps 5] [--frames 40] [--bitrate 2000] [DIR]

DIR holds JPEG frames (default bench/results/video/source-720p, which
bench/video.sh makes). Needs python3-gi (GStreamer's Python bindings).
"""
import argparse
import glob
import os
import re
import statistics
import time

import gi

gi.require_version('Gst', '1.0')
from gi.repository import Gst  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launcher_encoders():
    """kVideoCodecs' entries (in launcher/*.cpp): {name: encoder description}."""
    for path in sorted(glob.glob(os.path.join(ROOT, 'launcher', '*.cpp'))):
        source = open(path, encoding='utf-8').read()
        found = re.search(r'kVideoCodecs\[\w*\] = \{', source)
        if found:
            break
    else:
        raise SystemExit('kVideoCodecs not found in launcher/*.cpp')
    table = source[found.end():]
    table = table[:table.index('};')]
    encoders = {}
    for entry in re.finditer(r'\{\s*"(\w+)",\s*"[^"]*",((?:\s*"(?:[^"\\]|\\.)*")+)\s*\}', table):
        encoders[entry.group(1)] = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', entry.group(2)))
    return encoders


def delays(encoder, frames, fps, width, height, with_rate):
    rate = f'{fps}/1' if with_rate else '0/1'
    pipeline = Gst.parse_launch(
        f'appsrc name=src format=time caps=image/jpeg,width={width},height={height},framerate={rate} ! '
        f'jpegdec ! videoconvert ! {encoder} ! appsink name=sink sync=false emit-signals=true')
    pushed = {}
    out = []

    def on_sample(sink):
        buf = sink.emit('pull-sample').get_buffer()
        pts = buf.pts % (1000 * 3600 * Gst.SECOND)  # x264enc adds 1000 hours
        if pts in pushed:
            out.append(time.monotonic() - pushed[pts])
        return Gst.FlowReturn.OK

    pipeline.get_by_name('sink').connect('new-sample', on_sample)
    src = pipeline.get_by_name('src')
    pipeline.set_state(Gst.State.PLAYING)
    start = time.monotonic()
    for i, data in enumerate(frames):
        buf = Gst.Buffer.new_wrapped(data)
        buf.pts = i * Gst.SECOND // fps
        buf.duration = Gst.SECOND // fps
        pushed[buf.pts] = time.monotonic()
        src.emit('push-buffer', buf)
        time.sleep(max(0.0, start + (i + 1) / fps - time.monotonic()))
    src.emit('end-of-stream')
    pipeline.get_bus().timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('dir', nargs='?', default=os.path.join(ROOT, 'bench', 'results', 'video', 'source-720p'))
    parser.add_argument('--fps', type=int, default=5)
    parser.add_argument('--frames', type=int, default=40)
    parser.add_argument('--bitrate', type=int, default=2000)
    args = parser.parse_args()
    Gst.init(None)
    files = sorted(glob.glob(os.path.join(args.dir, '*.jpg')))[:args.frames]
    if not files:
        raise SystemExit(f'no JPEG frames in {args.dir}: run bench/video.sh first, or name a directory')
    frames = [open(f, 'rb').read() for f in files]
    probe = Gst.parse_launch(f'filesrc location="{files[0]}" ! jpegparse ! fakesink name=sink')
    probe.set_state(Gst.State.PAUSED)
    probe.get_state(5 * Gst.SECOND)
    caps = probe.get_by_name('sink').get_static_pad('sink').get_current_caps().get_structure(0)
    width, height = caps.get_value('width'), caps.get_value('height')
    probe.set_state(Gst.State.NULL)
    print(f'{len(frames)} frames {width}x{height} pushed at {args.fps} fps ({1000 / args.fps:.0f} ms apart), '
          f'{args.bitrate} kbit/s; delay from push to encoded frame, ms')
    print('| codec | caps framerate | frames out | delay p50 | min | max |')
    print('|---|---|---|---|---|---|')
    for name, encoder in launcher_encoders().items():
        for with_rate in (False, True):
            d = delays(encoder.replace('%u', str(args.bitrate)), frames, args.fps, width, height, with_rate)
            d_ms = [1000 * x for x in d]
            print(f'| {name} | {f"{args.fps}/1" if with_rate else "0/1 (as from a camera)"} | {len(d)} of {len(frames)} | '
                  f'{statistics.median(d_ms):.1f} | {min(d_ms):.1f} | {max(d_ms):.1f} |' if d else f'| {name} | - | 0 | - | - | - |')


if __name__ == '__main__':
    main()
