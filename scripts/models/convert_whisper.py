#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (model.bin, float16) to whisper.cpp's ggml format.

Usage: convert_whisper.py [--q8_0] CT2_MODEL_DIR WHISPER_ASSETS_DIR OUT.bin [EXPECTED_SIZE]

WHISPER_ASSETS_DIR is `whisper/assets/` from the openai-whisper sdist (mel_filters.npz,
gpt2.tiktoken). Only numpy is needed. The format is described in shared/FACTS.md.

The matrices are written as float16, or with --q8_0 in ggml's Q8_0 (blocks of 32 int8
values sharing one float16 scale, the layout whisper.cpp's own `quantize` writes): a third
of the size and faster on CPU. Convolution kernels stay float16 and vectors float32 in
both, which is what whisper.cpp expects of each file type.
"""
import base64
import os
import re
import struct
import sys

import numpy as np

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def fail(msg):
    sys.exit(f"convert_whisper: {msg}")


def read_ct2(path):
    """Returns {name: ndarray} of the variables in a CTranslate2 model.bin, aliases resolved."""
    buf = open(path, "rb").read()
    off = 0

    def take(fmt):
        nonlocal off
        vals = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize("<" + fmt)
        return vals

    def string():
        nonlocal off
        (n,) = take("H")
        s = buf[off:off + n].rstrip(b"\0").decode()
        off += n
        return s

    (version,) = take("I")
    if version != 6:
        fail(f"{path}: CTranslate2 binary version {version}, expected 6")
    spec = string()
    if spec != "WhisperSpec":
        fail(f"{path}: spec {spec!r}, expected 'WhisperSpec'")
    take("I")  # spec revision
    (count,) = take("I")
    variables = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        shape = take("I" * rank)
        (dtype,) = take("B")
        (nbytes,) = take("I")
        if dtype not in CT2_DTYPES:
            fail(f"{name}: unsupported CTranslate2 dtype {dtype} (quantised model?)")
        arr = np.frombuffer(buf, dtype=CT2_DTYPES[dtype], count=nbytes // np.dtype(CT2_DTYPES[dtype]).itemsize, offset=off)
        variables[name] = arr.reshape(shape)
        off += nbytes
    (aliases,) = take("I")
    for _ in range(aliases):
        alias, target = string(), string()
        variables[alias] = variables[target]
    if off != len(buf):
        fail(f"{path}: {len(buf) - off} trailing bytes; not a model.bin this script understands")
    return variables


def n_layers(v, side):
    return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})


def attn(v, src, dst, fused_qkv):
    """Yields ggml (name, array) pairs for one attention block, in PyTorch state_dict order."""
    if fused_qkv:
        w = np.split(v[f"{src}/linear_0/weight"], 3)
        b = np.split(v[f"{src}/linear_0/bias"], 3)
        out = f"{src}/linear_1"
        yield f"{dst}.query.weight", w[0]
        yield f"{dst}.query.bias", b[0]
        yield f"{dst}.key.weight", w[1]  # Whisper's key projection has no bias
        yield f"{dst}.value.weight", w[2]
        yield f"{dst}.value.bias", b[2]
    else:  # cross-attention: linear_0 is Q, linear_1 is fused K,V
        kw = np.split(v[f"{src}/linear_1/weight"], 2)
        kb = np.split(v[f"{src}/linear_1/bias"], 2)
        out = f"{src}/linear_2"
        yield f"{dst}.query.weight", v[f"{src}/linear_0/weight"]
        yield f"{dst}.query.bias", v[f"{src}/linear_0/bias"]
        yield f"{dst}.key.weight", kw[0]
        yield f"{dst}.value.weight", kw[1]
        yield f"{dst}.value.bias", kb[1]
    yield f"{dst}.out.weight", v[f"{out}/weight"]
    yield f"{dst}.out.bias", v[f"{out}/bias"]
    yield f"{dst}_ln.weight", v[f"{src}/layer_norm/gamma"]
    yield f"{dst}_ln.bias", v[f"{src}/layer_norm/beta"]


def tensors(v):
    yield "encoder.conv1.weight", v["encoder/conv1/weight"]
    yield "encoder.conv1.bias", v["encoder/conv1/bias"].reshape(-1, 1)
    yield "encoder.conv2.weight", v["encoder/conv2/weight"]
    yield "encoder.conv2.bias", v["encoder/conv2/bias"].reshape(-1, 1)
    yield "encoder.positional_embedding", v["encoder/position_encodings/encodings"]
    for side, prefix in (("encoder", "encoder"), ("decoder", "decoder")):
        if side == "decoder":
            yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
            yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
        for i in range(n_layers(v, side)):
            src, dst = f"{side}/layer_{i}", f"{prefix}.blocks.{i}"
            yield from attn(v, f"{src}/self_attention", f"{dst}.attn", fused_qkv=True)
            if side == "decoder":
                yield from attn(v, f"{src}/attention", f"{dst}.cross_attn", fused_qkv=False)
            yield f"{dst}.mlp.0.weight", v[f"{src}/ffn/linear_0/weight"]
            yield f"{dst}.mlp.0.bias", v[f"{src}/ffn/linear_0/bias"]
            yield f"{dst}.mlp.2.weight", v[f"{src}/ffn/linear_1/weight"]
            yield f"{dst}.mlp.2.bias", v[f"{src}/ffn/linear_1/bias"]
            yield f"{dst}.mlp_ln.weight", v[f"{src}/ffn/layer_norm/gamma"]
            yield f"{dst}.mlp_ln.bias", v[f"{src}/ffn/layer_norm/beta"]
        if side == "encoder":
            yield "encoder.ln_post.weight", v["encoder/layer_norm/gamma"]
            yield "encoder.ln_post.bias", v["encoder/layer_norm/beta"]
    yield "decoder.ln.weight", v["decoder/layer_norm/gamma"]
    yield "decoder.ln.bias", v["decoder/layer_norm/beta"]


GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8  # tensor types
FTYPE_F16, FTYPE_Q8_0 = 1, 7  # file types ("mostly ...")
Q8_0_BLOCK = 32


def q8_0(data):
    """ggml's block_q8_0 rows: per 32 values, a float16 scale d = max|x| / 127, then
    the 32 values as round(x / d) in int8 (quantize_row_q8_0_ref, but numpy rounds ties
    to even)."""
    x = np.asarray(data, dtype=np.float32).reshape(-1, Q8_0_BLOCK)
    d = np.abs(x).max(axis=1) / 127.0
    inverse = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    blocks = np.empty(x.shape[0], dtype=[("d", "<f2"), ("qs", "i1", Q8_0_BLOCK)])
    blocks["d"] = d
    blocks["qs"] = np.round(x * inverse[:, None])
    return blocks.tobytes()


F32_NAMES = {"encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding", "decoder.positional_embedding"}


def main():
    args = sys.argv[1:]
    quantise = "--q8_0" in args
    args = [a for a in args if a != "--q8_0"]
    if len(args) not in (3, 4):
        sys.exit(__doc__)
    ct2_dir, assets, out = args[:3]
    expected = int(args[3]) if len(args) == 4 else None

    v = read_ct2(os.path.join(ct2_dir, "model.bin"))
    enc_pos, dec_pos = v["encoder/position_encodings/encodings"], v["decoder/position_encodings/encodings"]
    hparams = [
        v["decoder/embeddings/weight"].shape[0],  # n_vocab
        enc_pos.shape[0], enc_pos.shape[1], int(v["encoder/num_heads"]), n_layers(v, "encoder"),
        dec_pos.shape[0], dec_pos.shape[1], int(v["decoder/num_heads"]), n_layers(v, "decoder"),
        v["encoder/conv1/weight"].shape[1],  # n_mels
        FTYPE_Q8_0 if quantise else FTYPE_F16,
    ]
    print(f"  hparams (n_vocab, audio ctx/state/head/layer, text ctx/state/head/layer, n_mels, ftype): {hparams}")
    if hparams[0] >= 51865:
        fail("multilingual model: this converter writes the English-only (gpt2) vocabulary")

    filters = np.load(os.path.join(assets, "mel_filters.npz"))[f"mel_{hparams[9]}"].astype("<f4")
    with open(os.path.join(assets, "gpt2.tiktoken"), "rb") as f:
        tokens = [base64.b64decode(line.split()[0]) for line in f.read().splitlines() if line]

    tmp = out + ".tmp"
    count = 0
    with open(tmp, "wb") as f:
        f.write(struct.pack("<i", 0x67676D6C))
        f.write(struct.pack("<11i", *hparams))
        f.write(struct.pack("<2i", *filters.shape))
        f.write(filters.tobytes())
        f.write(struct.pack("<i", len(tokens)))
        for t in tokens:
            f.write(struct.pack("<i", len(t)) + t)
        for name, data in tensors(v):
            if data.ndim < 2 or name in F32_NAMES:
                kind, payload = GGML_F32, np.ascontiguousarray(data, dtype="<f4").tobytes()
            elif quantise and data.ndim == 2:
                if data.shape[-1] % Q8_0_BLOCK:
                    fail(f"{name}: rows of {data.shape[-1]} values do not split into Q8_0 blocks")
                kind, payload = GGML_Q8_0, q8_0(data)
            else:
                kind, payload = GGML_F16, np.ascontiguousarray(data, dtype="<f2").tobytes()
            raw = name.encode()
            f.write(struct.pack("<3i", data.ndim, len(raw), kind))
            f.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
            f.write(raw)
            f.write(payload)
            count += 1
    size = os.path.getsize(tmp)
    print(f"  wrote {count} tensors, {len(tokens)} tokens, {size:,} bytes")
    if expected is not None and size != expected:
        os.remove(tmp)
        fail(f"output is {size:,} bytes, expected {expected:,}: the source model or the converter changed")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
