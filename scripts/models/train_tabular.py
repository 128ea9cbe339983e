#!/usr/bin/env python3
"""Train the tabular models on scikit-learn's bundled data sets and export them to ONNX.

Usage: train_tabular.py OUT_DIR   (writes OUT_DIR/<name>/<version>/{model.onnx,manifest.json,expected.json})

Every expected value comes from onnxruntime running the exported file, and is checked
against scikit-learn's own prediction first; any mismatch fails the run.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 42
TOL = 1e-5  # absolute for probabilities; relative (to max(1, |value|)) for regression values
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
INPUT = "features"


def fail(msg):
    sys.exit(f"train_tabular: {msg}")


def feature_names(raw):
    names = [n.strip().replace(" ", "_") for n in raw]
    for n in names:
        if not n.isidentifier():
            fail(f"feature name {n!r} is not an identifier")
    return names


def export(model, n_features, name, zipmap_off):
    options = {id(model.steps[-1][1]): {"zipmap": False}} if zipmap_off else None
    onx = to_onnx(model, initial_types=[(INPUT, FloatTensorType([None, n_features]))],
                  options=options, target_opset=TARGET_OPSET)
    onx.doc_string = f"{name}; scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}"
    onnx.checker.check_model(onx)
    return onx


def write(out_dir, name, version, onx, manifest, expected):
    d = os.path.join(out_dir, name, version)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"  {name}/{version}: {os.path.getsize(os.path.join(d, 'model.onnx')):,} bytes ONNX, "
          f"{len(expected)} held-out rows, {manifest['metric']['name']} {manifest['metric']['value']:.4f}")


def run_onnx(onx, X):
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {INPUT: X.astype(np.float32)})
    return [o.name for o in sess.get_outputs()], outs


def classifier(out_dir, version, C, description):
    data = load_breast_cancer()
    names = feature_names(data.feature_names)
    labels = [str(t) for t in data.target_names]  # class index i -> labels[i]
    X_tr, X_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.2,
                                              random_state=SEED, stratify=data.target)
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=C, max_iter=5000))])
    model.fit(X_tr, y_tr)
    onx = export(model, len(names), f"breast-cancer {version}", zipmap_off=True)
    out_names, (onnx_label, onnx_proba) = run_onnx(onx, X_te)
    # sklearn on the same float32-rounded input the ONNX model sees
    X32 = X_te.astype(np.float32).astype(np.float64)
    sk_proba, sk_label = model.predict_proba(X32), model.predict(X32)
    if onnx_proba.ndim != 2 or onnx_proba.shape[1] != len(labels):
        fail(f"breast-cancer {version}: probabilities output has shape {onnx_proba.shape}, expected (n, {len(labels)})")
    diff = np.abs(onnx_proba - sk_proba).max()
    if diff > TOL or not np.array_equal(onnx_label, sk_label):
        fail(f"breast-cancer {version}: ONNX disagrees with scikit-learn (max prob diff {diff:.2e}, "
             f"{int((onnx_label != sk_label).sum())} label mismatches)")
    acc = accuracy_score(y_te, onnx_label)
    manifest = {
        "name": "breast-cancer", "version": version, "kind": "classifier", "description": description,
        "features": [{"name": n, "type": "float"} for n in names],
        "labels": labels,
        "metric": {"name": "accuracy", "value": round(float(acc), 6), "held_out_rows": len(y_te)},
        "onnx": {
            "file": "model.onnx", "input": INPUT, "input_type": "float32", "input_shape": [None, len(names)],
            "outputs": out_names,
            # label: int64 [n], the class index into `labels`; probabilities: float32 [n, len(labels)]
            "label_output": out_names[0], "probabilities_output": out_names[1],
        },
        "trained_with": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "seed": SEED},
    }
    expected = [{
        "features": dict(zip(names, map(float, row))),
        "label": labels[int(li)], "label_index": int(li),
        "score": float(p[int(li)]), "probabilities": [float(x) for x in p],
        "truth": labels[int(t)],
    } for row, li, p, t in zip(X_te, onnx_label, onnx_proba, y_te)]
    write(out_dir, "breast-cancer", version, onx, manifest, expected)


def regressor(out_dir, version):
    data = load_diabetes()
    names = feature_names(data.feature_names)
    X_tr, X_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.2, random_state=SEED)
    model = Pipeline([("gbr", GradientBoostingRegressor(n_estimators=150, max_depth=3, learning_rate=0.05,
                                                        subsample=0.8, random_state=SEED))])
    model.fit(X_tr, y_tr)
    onx = export(model, len(names), f"diabetes {version}", zipmap_off=False)
    out_names, (onnx_value,) = run_onnx(onx, X_te)
    onnx_value = onnx_value.reshape(-1)
    sk_value = model.predict(X_te.astype(np.float32).astype(np.float64))
    rel = (np.abs(onnx_value - sk_value) / np.maximum(1.0, np.abs(sk_value))).max()
    if rel > TOL:
        fail(f"diabetes {version}: ONNX disagrees with scikit-learn (max relative diff {rel:.2e})")
    r2 = r2_score(y_te, onnx_value)
    manifest = {
        "name": "diabetes", "version": version, "kind": "regressor",
        "description": "Disease progression one year after baseline (scikit-learn load_diabetes); "
                       "features are the data set's mean-centred, scaled values",
        "features": [{"name": n, "type": "float"} for n in names],
        "labels": [],
        "metric": {"name": "r2", "value": round(float(r2), 6), "held_out_rows": len(y_te)},
        "onnx": {
            "file": "model.onnx", "input": INPUT, "input_type": "float32", "input_shape": [None, len(names)],
            "outputs": out_names,
            "value_output": out_names[0],  # float32 [n, 1]
        },
        "trained_with": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "seed": SEED},
    }
    expected = [{"features": dict(zip(names, map(float, row))), "value": float(v), "truth": float(t)}
                for row, v, t in zip(X_te, onnx_value, y_te)]
    write(out_dir, "diabetes", version, onx, manifest, expected)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    np.random.seed(SEED)
    classifier(out, "1.0.0", 1.0, "Breast cancer diagnosis (scikit-learn load_breast_cancer): "
                                  "StandardScaler + LogisticRegression(C=1.0)")
    classifier(out, "1.1.0", 0.05, "Breast cancer diagnosis (scikit-learn load_breast_cancer): "
                                   "StandardScaler + LogisticRegression(C=0.05), stronger regularisation")
    regressor(out, "1.0.0")


if __name__ == "__main__":
    main()
