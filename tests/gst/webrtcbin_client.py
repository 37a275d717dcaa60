#!/usr/bin/python3
"""A WebRTC client that is not a browser: GStreamer's webrtcbin (Debian's 1.22).

Publishes a test tone (Opus) and a test pattern (VP8) with bundle-policy max-bundle,
as GStreamer applications do. Signaling goes over stdin/stdout as JSON lines, one
object each, in the shape of vchat's signaling messages (docs/signaling.md):
  out: {"type": "offer"|"answer", "sdp"}, {"type": "candidate", "candidate": {...}},
       {"type": "state", "connection": ..., "ice": ...}, {"type": "inbound", ...}
  in:  {"type": "answer"|"offer", "sdp"}, {"type": "quit"}
The test driving it relays these to and from the server's /ws.
Its DTLS certificate is the one webrtcbin makes itself, which is RSA.
"""
import json
import os
import sys
import threading

# The JSON lines get the real stdout; anything a library prints goes to stderr.
_out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

Gst.init(None)


def say(obj):
    _out.write(json.dumps(obj) + "\n")
    _out.flush()


PIPELINE = (
    "webrtcbin name=pc bundle-policy=max-bundle "
    "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! "
    "opusenc ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! pc. "
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
    "videoconvert ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ! "
    "application/x-rtp,media=video,encoding-name=VP8,payload=96 ! pc. "
)

pipe = Gst.parse_launch(PIPELINE)
pc = pipe.get_by_name("pc")
loop = GLib.MainLoop()


def on_offer_created(promise, _):
    reply = promise.get_reply()
    offer = reply.get_value("offer")
    pc.emit("set-local-description", offer, Gst.Promise.new())
    say({"type": "offer", "sdp": offer.sdp.as_text()})


def on_negotiation_needed(element):
    pc.emit("create-offer", None, Gst.Promise.new_with_change_func(on_offer_created, None))


def on_ice_candidate(element, mline, candidate):
    say({"type": "candidate", "candidate": {"candidate": candidate, "sdpMLineIndex": mline}})


def on_state(element, _pspec):
    say({
        "type": "state",
        "connection": pc.get_property("connection-state").value_nick,
        "ice": pc.get_property("ice-connection-state").value_nick,
    })


def on_answer_created(promise, _):
    reply = promise.get_reply()
    answer = reply.get_value("answer") if reply is not None and reply.has_field("answer") else None
    if answer is None:
        error = reply.get_value("error") if reply is not None and reply.has_field("error") else None
        say({"type": "failed", "what": "create-answer", "error": str(error.message if error else reply)})
        return
    pc.emit("set-local-description", answer, Gst.Promise.new())
    say({"type": "answer", "sdp": answer.sdp.as_text()})


def description(kind, text):
    _, sdp = GstSdp.SDPMessage.new_from_text(text)
    t = GstWebRTC.WebRTCSDPType.ANSWER if kind == "answer" else GstWebRTC.WebRTCSDPType.OFFER
    return GstWebRTC.WebRTCSessionDescription.new(t, sdp)


def after_remote_offer(promise, _):
    reply = promise.get_reply()
    if reply is not None and reply.has_field("error"):
        say({"type": "failed", "what": "set-remote-description", "error": reply.get_value("error").message})
        return
    pc.emit("create-answer", None, Gst.Promise.new_with_change_func(on_answer_created, None))


def on_message(msg):
    kind = msg.get("type")
    if kind == "answer":
        pc.emit("set-remote-description", description("answer", msg["sdp"]), Gst.Promise.new())
    elif kind == "offer":
        pc.emit("set-remote-description", description("offer", msg["sdp"]),
                Gst.Promise.new_with_change_func(after_remote_offer, None))
    elif kind == "quit":
        loop.quit()
    return False


def read_stdin():
    for line in sys.stdin:
        line = line.strip()
        if line:
            GLib.idle_add(on_message, json.loads(line))
    GLib.idle_add(loop.quit)


pc.connect("on-negotiation-needed", on_negotiation_needed)
pc.connect("on-ice-candidate", on_ice_candidate)
pc.connect("notify::connection-state", on_state)
pc.connect("notify::ice-connection-state", on_state)
threading.Thread(target=read_stdin, daemon=True).start()
pipe.set_state(Gst.State.PLAYING)
try:
    loop.run()
finally:
    pipe.set_state(Gst.State.NULL)
