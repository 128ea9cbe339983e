#!/usr/bin/env python3
"""RetinaFace's float graph quantised to 8 bits (ONNX Runtime's static quantisation).

  quantize_faces.py FLOAT_ONNX OUT_ONNX CALIBRATION_JPG...

Weights int8 per output channel, activations uint8, QDQ format; the activation ranges are
the min/max seen on the calibration photos at the two sizes algo-server searches (a
thumbnail's 500 px copy, FaceDetection's 1664 px). With one ONNX Runtime thread the int8
graph runs a 500x375 search in ~9.5 ms where the float one takes ~13.5 ms (AMD EPYC,
AVX-512 VNNI), and finds the same labelled faces (crates/algo-server/tests/face_recall.rs).

The calibration photos are the committed astronaut.jpg and wide.jpg, none of the
labelled photos the recall test scores, so the test is not scored on what set the ranges.
The output is checked before it is kept: on each calibration photo the anchors both graphs
score as a face must mostly be the same ones (the recall test is the real check).
"""
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

MEAN_BGR = np.array([104, 117, 127], np.float32)  # as crates/algo-vision/src/retina.rs
SIDES = (500, 1664)  # algo-vision's Detector::thumbnail_side and RETINA_FIND_SIDE
# Per-channel quantisation (DequantizeLinear's `axis`) needs opset 13; the graph is 11.
OPSET = 17


def tensor(path, side):
    image = Image.open(path).convert("RGB")
    w, h = image.size
    scale = side / max(w, h)
    image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    bgr = np.asarray(image, np.float32)[:, :, ::-1] - MEAN_BGR
    return bgr.transpose(2, 0, 1)[None].copy()


class Photos(CalibrationDataReader):
    def __init__(self, paths):
        self.inputs = iter([{"input": tensor(p, side)} for p in paths for side in SIDES])

    def get_next(self):
        return next(self.inputs, None)


def face_anchors(session, x, threshold=0.8):
    """Indices of the anchors scored as a face (at algo-vision's SCORE_THRESHOLD)."""
    conf = session.run(["conf"], {"input": x})[0][0]
    return set(np.flatnonzero(conf[:, 1] >= threshold).tolist())


def check(float_path, int8_path, photos):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(p, opts, providers=["CPUExecutionProvider"])
                for p in (float_path, int8_path)]
    for photo in photos:
        x = tensor(photo, SIDES[0])
        floats, ints = (face_anchors(s, x) for s in sessions)
        # A face is several neighbouring anchors; 8-bit scores near the threshold move a
        # few of them in or out, a broken graph moves most.
        shared = len(floats & ints) / max(1, len(floats | ints))
        if not floats or shared < 0.6:
            sys.exit(f"{photo}: face anchors float {len(floats)}, int8 {len(ints)}, "
                     f"shared {shared:.2f}: the int8 graph does not see the same faces")
        print(f"    {os.path.basename(photo)}: face anchors float {len(floats)}, "
              f"int8 {len(ints)}, shared {shared:.2f}")


def main():
    float_path, out, *photos = sys.argv[1:]
    if not photos:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        upgraded = os.path.join(tmp, "opset.onnx")
        prepared = os.path.join(tmp, "prepared.onnx")
        onnx.save(version_converter.convert_version(onnx.load(float_path), OPSET), upgraded)
        quant_pre_process(upgraded, prepared, skip_symbolic_shape=True)
        quantize_static(prepared, out + ".tmp", Photos(photos), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True)
    check(float_path, out + ".tmp", photos)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
