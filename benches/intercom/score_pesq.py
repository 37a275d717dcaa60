#!/usr/bin/env python3
"""PESQ (MOS-LQO) of each complexity's decoded speech against the reference, written by
vchat-intercom-codecs in DIR as s16le: narrowband (ITU-T P.862) at 8 kHz for `c*.raw`,
wideband (P.862.2) at 16 kHz for `w*.raw`; prints {"<complexity>": nb, "wb<complexity>":
wb, ...} as JSON. Run by benches/intercom/codecs.sh in a venv
with the `pesq` package (PyPI, ludlows/python-pesq)."""

import json
import pathlib
import sys

import numpy as np
from pesq import pesq

d = pathlib.Path(sys.argv[1])
ref = np.frombuffer((d / "reference.raw").read_bytes(), dtype="<i2").astype(np.float32) / 32768
scores = {}
for f in sorted(d.glob("c*.raw")):
    deg = np.frombuffer(f.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    n = min(len(ref), len(deg))
    scores[f.stem[1:]] = round(float(pesq(8000, ref[:n], deg[:n], "nb")), 3)
# Wideband (P.862.2): an L16 panel's 16 kHz speech, as keys "wb<complexity>".
ref16 = np.frombuffer((d / "reference16.raw").read_bytes(), dtype="<i2").astype(np.float32) / 32768
for f in sorted(d.glob("w*.raw")):
    deg = np.frombuffer(f.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    n = min(len(ref16), len(deg))
    scores["wb" + f.stem[1:]] = round(float(pesq(16000, ref16[:n], deg[:n], "wb")), 3)
print(json.dumps(scores))
