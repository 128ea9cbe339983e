#!/usr/bin/env python3
"""Deterministic image fixtures (Pillow only).

  make_images.py images ASTRONAUT_PNG GROUP_JPG OUT_DIR   -> astronaut.jpg, group.jpg, wide.jpg, faces.json
  make_images.py bench ASTRONAUT_JPG OUT_JPG              -> a 4000x3000 (12 MP) JPEG

Face boxes were read by eye off the source pictures (see fixtures/images/README.md);
boxes of derived pictures are computed from the same geometry.
"""
import json
import os
import sys

from PIL import Image

QUALITY = 90
# Astronaut (skimage/data/astronaut.png, 512x512): forehead to chin, cheek to cheek.
ASTRONAUT_FACE = (180, 70, 92, 115)
# Group (@vladmandic/face-api demo/sample6.jpg, scaled to GROUP_WIDTH): left to right.
GROUP_WIDTH = 1024
GROUP_FACES = [(140, 265, 112, 137), (360, 187, 86, 148), (627, 162, 105, 143), (790, 145, 117, 150)]
WIDE_SIZE = (1536, 512)  # 3:1
WIDE_SHIFT = -130  # the astronaut is pasted this far left, so her face sits near the left edge
BENCH_SIZE = (4000, 3000)


def box(x, y, w, h):
    return {"x": round(x), "y": round(y), "width": round(w), "height": round(h)}


def save(im, path):
    im.save(path, "JPEG", quality=QUALITY, optimize=True)
    print(f"  {path}: {im.width}x{im.height}, {os.path.getsize(path):,} bytes")


def edge_extend(im, size, left):
    """`im` on a canvas of `size` at x=`left`, the rest filled by stretching its outermost columns."""
    canvas = Image.new("RGB", size)
    canvas.paste(im, (left, 0))
    right = left + im.width
    if left > 0:
        canvas.paste(im.crop((0, 0, 1, im.height)).resize((left, im.height)), (0, 0))
    if right < size[0]:
        canvas.paste(im.crop((im.width - 1, 0, im.width, im.height)).resize((size[0] - right, im.height)), (right, 0))
    return canvas


def images(astronaut_png, group_jpg, out):
    os.makedirs(out, exist_ok=True)
    astro = Image.open(astronaut_png).convert("RGB")
    save(astro, os.path.join(out, "astronaut.jpg"))

    group = Image.open(group_jpg).convert("RGB")
    scale = GROUP_WIDTH / group.width
    group = group.resize((GROUP_WIDTH, round(group.height * scale)), Image.LANCZOS)
    save(group, os.path.join(out, "group.jpg"))

    wide = edge_extend(astro, WIDE_SIZE, WIDE_SHIFT)
    save(wide, os.path.join(out, "wide.jpg"))

    x, y, w, h = ASTRONAUT_FACE
    faces = {
        "astronaut.jpg": [box(x, y, w, h)],
        "group.jpg": [box(*f) for f in GROUP_FACES],
        "wide.jpg": [box(x + WIDE_SHIFT, y, w, h)],
    }
    with open(os.path.join(out, "faces.json"), "w") as f:
        json.dump(faces, f, indent=2)
        f.write("\n")


def bench(astronaut_jpg, out_jpg):
    astro = Image.open(astronaut_jpg).convert("RGB")
    side = BENCH_SIZE[1]
    big = astro.resize((side, side), Image.BICUBIC)
    left = (BENCH_SIZE[0] - side) // 2
    save(edge_extend(big, BENCH_SIZE, left), out_jpg)
    s = side / astro.width
    x, y, w, h = ASTRONAUT_FACE
    print(f"  face box: {box(left + x * s, y * s, w * s, h * s)}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "images":
        images(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "bench":
        bench(*sys.argv[2:])
    else:
        sys.exit(__doc__)
