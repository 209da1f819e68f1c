#!/usr/bin/env python3
"""Writes fuzz/seeds/: one file per vector in crates/usher-hash/tests/vectors/vectors.json,
holding that vector's `hash` string (file name: the vector id). Re-run after adding vectors."""

import json
import pathlib
import re

here = pathlib.Path(__file__).resolve().parent
vectors = here.parent / "crates/usher-hash/tests/vectors/vectors.json"
out = here / "seeds"
out.mkdir(exist_ok=True)
for old in out.iterdir():
    old.unlink()
for v in json.loads(vectors.read_text(encoding="utf-8"))["vectors"]:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", v["id"])
    (out / name).write_bytes(v["hash"].encode("utf-8"))
print(f"{len(list(out.iterdir()))} seeds in {out}")
