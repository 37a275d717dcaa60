#!/usr/bin/env python3
"""PESQ (ITU-T P.862, narrowband, MOS-LQO) of each complexity's decoded speech against
the reference, both 8 kHz s16le in DIR (written by vchat-intercom-codecs): prints
{"<complexity>": score, ...} as JSON. Run by benches/intercom/codecs.sh in a venv
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
print(json.dumps(scores))
