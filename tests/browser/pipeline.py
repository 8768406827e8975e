#!/usr/bin/python3
"""A GStreamer pipeline for the browser tests (harness.mjs startPipeline()).

Usage: /usr/bin/python3 pipeline.py 'DESCRIPTION'   (gst-launch-1.0 syntax)

Prints one JSON line per event on stdout:
  {"ready": {"ports": {"SINK NAME": PORT, ...}}}   playing, every websocketsink listening
  {"done": "LINE"}                                  a command from stdin was carried out
  {"error": "MESSAGE"}                              then it exits 1
  {"eos": true}                                     then it exits 0
Reads commands from stdin, one a line:
  set ELEMENT PROPERTY VALUE   (VALUE as gst-launch-1.0 parses it, caps too)
It exits when stdin closes, so it never outlives the test that started it.
Unlike gst-launch-1.0, it can change an element's properties while playing
(a capsfilter's caps: a resolution change mid-stream).
"""
import json
import sys

import gi

gi.require_version('Gst', '1.0')
from gi.repository import GLib, Gst  # noqa: E402


def say(**event):
    print(json.dumps(event), flush=True)


def main():
    Gst.init(None)
    try:
        pipeline = Gst.parse_launch(sys.argv[1])
    except GLib.Error as e:
        say(error=e.message)
        return 1
    loop = GLib.MainLoop()
    status = {'code': 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            say(error=f'{message.src.get_name()}: {error.message} ({debug})')
            status['code'] = 1
            loop.quit()
        elif message.type == Gst.MessageType.EOS:
            say(eos=True)
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect('message', on_message)

    elements = []
    pipeline.iterate_recurse().foreach(elements.append)
    sinks = [e for e in elements if e.get_factory() and e.get_factory().get_name() == 'websocketsink']

    def when_listening():
        ports = {s.get_name(): s.get_property('current-port') for s in sinks}
        if not all(ports.values()):
            return True  # again
        say(ready={'ports': ports})
        return False

    def on_command(channel, _condition):
        line = channel.readline()
        if not line:
            loop.quit()
            return False
        words = line.strip().split(' ', 3)
        if len(words) == 4 and words[0] == 'set':
            element = pipeline.get_by_name(words[1])
            if element is None:
                say(error=f'no element named {words[1]}')
            else:
                Gst.util_set_object_arg(element, words[2], words[3])
                say(done=line.strip())
        elif line.strip():
            say(error=f'unknown command: {line.strip()}')
        return True

    stdin = GLib.IOChannel.unix_new(sys.stdin.fileno())
    GLib.io_add_watch(stdin, GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_command)

    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        message = bus.pop_filtered(Gst.MessageType.ERROR)
        say(error=message.parse_error()[0].message if message else 'the pipeline did not start')
        return 1
    GLib.timeout_add(20, when_listening)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    return status['code']


if __name__ == '__main__':
    sys.exit(main())
