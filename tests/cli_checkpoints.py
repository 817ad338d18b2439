"""Checkpoints written by newer rfdetr releases load and compute the same network.

The fixture checkpoints (rfdetr 1.4.1 layout: {"model", "args": argparse.Namespace}) are
rewritten by tests/ckpt_layouts.py (CPython's pickler, torch.save's records; its re-save of
a fixture reproduces the fixture's data.pkl byte for byte, checked first) in the layouts of
rfdetr 1.7-1.11 and PyTorch Lightning:
  - args as a dict and as a types.SimpleNamespace, top-level model_name / rfdetr_version,
    an empty _kp_active_mask buffer in the state dict;
  - a BestModelCallback .pth: "model" plus a Lightning "state_dict" copy, training args as a
    dict without the architecture, which sits in "model_config";
  - a Lightning .ckpt: only "state_dict" with "model." (and "model._orig_mod.") prefixes
    beside criterion entries, hyper_parameters (an AttributeDict) as args, optimizer states
    holding tensors of their own.
Each must give `rfseg info` and `rfseg predict --preset rfdetr --raw-out` output identical to
the same weights in the 1.4.1 layout (class names included). Then the refusals: a state-dict
entry or a setting that changes the network, an active keypoint mask, a detection model's
model_name, a Lightning file without model.* entries; each names the culprit."""
import argparse
import copy
import os
import subprocess
import sys
import tempfile
import types
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
import ckpt_layouts as L  # noqa: E402
from clitest import RFSEG, SHARED, check, finish  # noqa: E402

IMG = os.path.join(SHARED, "fixtures", "images", "coffee.png")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
NAMES = ["cat", "dog", "mug", "spoon", "plate"]
ARCH = ["resolution", "num_windows", "patch_size", "positional_encoding_size", "out_feature_indexes",
        "dec_layers", "hidden_dim", "sa_nheads", "ca_nheads", "dec_n_points", "num_queries", "num_select",
        "group_detr", "two_stage", "bbox_reparam", "lite_refpoint_refine", "layer_norm", "projector_scale",
        "segmentation_head", "mask_downsample_ratio", "encoder", "dim_feedforward"]


def run(args):
    return subprocess.run([RFSEG] + args, capture_output=True, text=True, env=ENV, timeout=300)


def outputs(path, tmp, tag):
    """(info text, predict JSON, raw tensors) of a checkpoint, the path masked out."""
    info = run(["info", path])
    raw = os.path.join(tmp, tag + ".raw")
    pred = run(["predict", "--model", path, "--preset", "rfdetr", "--confidence", "0.3", "--raw-out", raw, IMG])
    ok = info.returncode == 0 and pred.returncode == 0
    if not ok:
        print(tag, info.stderr[-300:], pred.stderr[-300:])
    return ok, info.stdout.replace(path, "MODEL"), pred.stdout, open(raw, "rb").read() if ok else b""


def kp_mask(rows, cols, active=False):
    data = bytes(rows * cols)
    if active and rows * cols:
        data = b"\x01" + data[1:]
    return L.Tensor.new("BoolStorage", data, (rows, cols))


def expect_refusal(path, words, what):
    p = run(["info", path])
    msg = p.stderr.strip()
    check(p.returncode != 0 and all(w in msg for w in words), "%s is refused naming it: %s" % (what, msg[-300:]))
    if os.environ.get("VERBOSE"):
        print(" ", msg[-250:])


with tempfile.TemporaryDirectory() as tmp:
    for fixture in ("tiny-w1", "tiny-w2"):
        src_path = os.path.join(SHARED, "fixtures", "rfdetr", fixture + ".pth")
        src = L.read_checkpoint(src_path)
        model, args = src["model"], src["args"]
        check(isinstance(args, argparse.Namespace) and len(model) >= 380, "%s read (%d tensors)" % (fixture, len(model)))

        # the writer reproduces torch.save's pickle of the fixture byte for byte
        same = os.path.join(tmp, fixture + "-resaved.pth")
        L.write_checkpoint(same, src, root=fixture)
        pkl = lambda p: next(zipfile.ZipFile(p).read(n) for n in zipfile.ZipFile(p).namelist() if n.endswith("data.pkl"))
        check(pkl(same) == pkl(src_path), "%s: re-saved data.pkl equals torch.save's" % fixture)

        # reference: the 1.4.1 layout with class names
        named = copy.copy(args)
        named.class_names = NAMES[: len(NAMES)]
        base = os.path.join(tmp, fixture + "-base.pth")
        L.write_checkpoint(base, {"model": model, "args": named})
        ok, ref_info, ref_pred, ref_raw = outputs(base, tmp, fixture + "-base")
        check(ok and '"class_name":"' in ref_pred, "%s: reference loads and predicts" % fixture)
        ok0, info0, pred0, raw0 = outputs(src_path, tmp, fixture + "-orig")
        check(ok0 and raw0 == ref_raw and info0 == ref_info, "%s: class names change nothing else" % fixture)

        argd = dict(vars(named))
        arch = {k: argd[k] for k in ARCH if k in argd}
        train_only = {k: v for k, v in argd.items() if k not in ARCH}
        sd_kp = dict(model, _kp_active_mask=kp_mask(0, 0))
        exp_avg = L.Tensor.new("FloatStorage", bytes(4 * 8), (8,))
        layouts = {
            "args-dict": {"model": sd_kp, "args": argd, "model_name": "RFDETRSegNano", "rfdetr_version": "1.11.0"},
            "simplenamespace": {"model": model, "args": types.SimpleNamespace(**argd), "epoch": 11},
            "best-model": {
                "model": sd_kp, "args": train_only, "epoch": 4,
                "state_dict": {"model." + k: v for k, v in sd_kp.items()}, "global_step": 1200,
                "pytorch-lightning_version": "2.5.5",
                "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 5}}}},
                "optimizer_states": [], "lr_schedulers": [], "model_name": "RFDETRSegNano",
                "model_config": dict(arch, num_channels=3, device="cuda", pretrain_weights=None),
                "rfdetr_version": "1.11.0", "best_total_source": "ema",
            },
            "lightning": {
                "epoch": 4, "global_step": 1200, "pytorch-lightning_version": "2.5.5",
                "state_dict": dict({"model." + k: v for k, v in sd_kp.items()},
                                   **{"criterion.empty_weight": L.Tensor.new("FloatStorage", bytes(24), (6,))}),
                "loops": {"fit_loop": {}}, "callbacks": {"ModelCheckpoint{}": {"best_model_score": None}},
                "optimizer_states": [{"state": {0: {"step": 3.0, "exp_avg": exp_avg}},
                                      "param_groups": [{"lr": 1e-4, "params": [0]}]}],
                "lr_schedulers": [{"last_epoch": 4}], "hparams_name": "kwargs",
                "hyper_parameters": L.attribute_dict(argd),
            },
            "lightning-compiled": {
                "state_dict": {"model._orig_mod." + k: v for k, v in model.items()},
                "hyper_parameters": argd,
            },
        }
        for tag, obj in layouts.items():
            path = os.path.join(tmp, "%s-%s.%s" % (fixture, tag, "ckpt" if "lightning" in tag else "pth"))
            L.write_checkpoint(path, obj)
            ok, info, pred, raw = outputs(path, tmp, fixture + tag)
            check(ok and info == ref_info, "%s %s: same configuration" % (fixture, tag))
            check(ok and raw == ref_raw, "%s %s: same network input and outputs (raw tensors)" % (fixture, tag))
            check(ok and pred.replace(path, "MODEL") == ref_pred.replace(base, "MODEL"),
                  "%s %s: same detections and class names" % (fixture, tag))

        if fixture != "tiny-w2":
            continue
        # tiny-w2's windows and heads are not what the shapes alone suggest: without
        # model_config the training-args-only file computes another network
        path = os.path.join(tmp, "no-model-config.pth")
        L.write_checkpoint(path, {"model": model, "args": train_only})
        ok, info, _, raw = outputs(path, tmp, "nomc")
        check(ok and raw != ref_raw, "without model_config the architecture falls back (control)")

        # refusals
        def refuse(tag, obj, words, what):
            path = os.path.join(tmp, tag + ".pth")
            L.write_checkpoint(path, obj)
            expect_refusal(path, words, what)

        bad = dict(model)
        bad["transformer.decoder.bbox_embed.layers.0.weight"] = L.Tensor.new("FloatStorage", bytes(4 * 64 * 64), (64, 64))
        refuse("extra-key", {"model": bad, "args": argd},
               ["transformer.decoder.bbox_embed.layers.0.weight", "refines boxes"], "a per-layer box refinement tensor")
        bad = dict(model, **{"backbone.0.encoder.encoder.embeddings.register_tokens":
                             L.Tensor.new("FloatStorage", bytes(4 * 4 * 128), (1, 4, 128))})
        refuse("registers", {"model": bad, "args": argd}, ["register_tokens"], "register tokens")
        bad = dict(model, **{"backbone.0.something_new.weight": L.Tensor.new("FloatStorage", bytes(16), (4,))})
        refuse("unknown", {"model": bad, "args": argd}, ["something_new", "not part of the RF-DETR-Seg"],
               "an unknown tensor")
        refuse("kp-active", {"model": dict(model, _kp_active_mask=kp_mask(6, 17, active=True)), "args": argd},
               ["_kp_active_mask", "keypoint"], "an active keypoint mask")
        refuse("two-stage", {"model": model, "args": dict(argd, two_stage=False)}, ["two_stage", "False"],
               "args.two_stage=False")
        refuse("mc-ratio", {"model": model, "args": argd, "model_config": dict(arch, mask_downsample_ratio=2)},
               ["mask_downsample_ratio", "2"], "model_config.mask_downsample_ratio=2")
        refuse("proj", {"model": model, "args": dict(argd, projector_scale=["P3", "P5"])}, ["projector_scale"],
               "two projector levels")
        refuse("det-name", {"model": model, "args": argd, "model_name": "RFDETRSmall"}, ["RFDETRSmall"],
               "a detection model_name")
        refuse("no-model-prefix", {"state_dict": {"criterion.w": exp_avg}, "hyper_parameters": argd},
               ["state_dict", "model."], "a Lightning file without model.* entries")

finish()
