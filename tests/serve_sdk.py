"""rfseg serve as Roboflow's inference_sdk sees it.

Replays, byte for byte as far as HTTP goes, the requests InferenceHTTPClient makes for an
instance-segmentation model (inference_sdk/http/client.py), in v1 mode (the default for a
local server) and v0 mode, and checks that every answer parses the way the SDK parses it
and that the predictions equal `rfseg predict` for the same image (except inference_id,
time and detection ids):

  v1  client.infer(path, model_id):  GET /model/registry?api_key=KEY (RegisteredModels),
      POST /model/add {"model_id", "api_key"} when the model is not listed, then
      POST /infer/instance_segmentation {"api_key", "model_id", <configuration>,
      "image": {"type": "base64", "value": ...}}, one image per request or lists of
      max_batch_size; with client downsizing on, the image is first shrunk with cv2 to the
      registry's input size and sent as a JPEG, and the SDK scales the answer back;
      the api_key also as `Authorization: Bearer` (api_key_transport="header");
  v0  POST /{dataset}/{version}?api_key=KEY&confidence=... with the base64 text as the body
      and Content-Type: application/json, as the SDK sends it;
  and get_server_info() (GET /info: name, version, uuid), unload_model() (POST
  /model/remove {"model_id"}), unload_all_models() (POST /model/clear).

When the SDK itself imports (pip install inference-sdk; Debian does not package it), the
same calls are made through it too; otherwise that part prints a SKIP line.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from clitest import RFSEG, SHARED, check, finish  # noqa: E402

import cv2  # noqa: E402  (Debian's python3-opencv: the SDK's own image code uses cv2)

KEY = "test-key-123"
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMAGES = [os.path.join(SHARED, "fixtures", "images", n) for n in ("chelsea.png", "coffee.png")]


def normalize(text):
    """Drops the values that differ from run to run, like test_serve.c does."""
    text = re.sub(r'"(detection_id|inference_id)":"[^"]*"', r'"\1":""', text)
    return re.sub(r'"time":[^,}]*', '"time":', text)


def predict(image, extra=()):
    out = subprocess.run([RFSEG, "predict", "--model", MODEL, *extra, image], capture_output=True, text=True)
    return normalize(out.stdout.strip()) if out.returncode == 0 else None


class Server:
    def __init__(self, *extra):
        self.proc = subprocess.Popen([RFSEG, "serve", "--model", MODEL + ":tiny-seg/1", "--port", "0", *extra],
                                     stderr=subprocess.PIPE, text=True)
        self.url = None
        for line in self.proc.stderr:
            m = re.search(r"listening on (http://[0-9.:]+)/", line)
            if m:
                self.url = m.group(1)
                break

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -1
        self.proc.stderr.close()
        return rc


def call(url, method="GET", body=None, params=None, headers=None):
    """One request; (status, headers, parsed JSON or raw bytes)."""
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    if "application/json" in hdrs.get("Content-Type", ""):
        return status, hdrs, json.loads(raw)
    return status, hdrs, raw


def model_description(registry, model_id):
    """RegisteredModels.from_dict + filter_model_descriptions: model_id, task_type,
    batch_size, input_height, input_width."""
    for m in registry["models"]:
        if m["model_id"] == model_id:
            return {k: m.get(k) for k in ("model_id", "task_type", "batch_size", "input_height", "input_width")}
    return None


def b64_file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode("utf-8")


def shrink(path, max_h, max_w):
    """load_image_from_string with client downsizing: cv2.imread, resize_opencv_image,
    numpy_array_to_base64_jpeg. Returns (base64 JPEG, scaling factor, the JPEG bytes)."""
    img = cv2.imread(path)
    h, w = img.shape[:2]
    ratio = min(max_h / h, max_w / w)
    if ratio >= 1.0:
        ratio = None
    else:
        img = cv2.resize(src=img, dsize=None, fx=ratio, fy=ratio)
    ok, enc = cv2.imencode(".jpg", img)
    data = enc.tobytes()
    return base64.b64encode(data).decode("utf-8"), ratio, data


def compare(answer, expect, what):
    got = normalize(json.dumps(answer, separators=(",", ":"), ensure_ascii=False))
    # the server's floats are Python reprs, which json.dumps writes back the same way
    check(expect is not None and got == expect, "%s differs from rfseg predict:\n  got    %.300s\n  expect %.300s"
          % (what, got, expect))


def v1_sequence(base, headers_auth=False):
    """client.infer(IMAGES[0], model_id="tiny-seg/1") and friends, in v1 mode."""
    auth = {"Authorization": "Bearer " + KEY} if headers_auth else {}
    key_param = {} if headers_auth else {"api_key": KEY}
    json_h = {"Content-Type": "application/json", **auth}
    # unload_model first, so that infer() has to load it again, as on a fresh server
    st, _, reg = call(base + "/model/remove", "POST", {"model_id": "tiny-seg/1"}, headers=json_h)
    check(st == 200 and model_description(reg, "tiny-seg/1") is None, "unload_model: %s %s" % (st, reg))
    # get_model_description: list_loaded_models, then load_model when missing
    st, _, reg = call(base + "/model/registry", params=key_param, headers=auth)
    check(st == 200 and model_description(reg, "tiny-seg/1") is None, "registry after unload: %s" % reg)
    st, _, reg = call(base + "/model/add", "POST", {"model_id": "tiny-seg/1", **key_param}, headers=json_h)
    desc = model_description(reg, "tiny-seg/1") if st == 200 else None
    check(desc == {"model_id": "tiny-seg/1", "task_type": "instance-segmentation", "batch_size": 4,
                   "input_height": 96, "input_width": 96}, "load_model: %s %s" % (st, reg))
    # infer: the payload the SDK builds with the default configuration
    payload = {**key_param, "model_id": "tiny-seg/1", "image": {"type": "base64", "value": b64_file(IMAGES[0])}}
    st, _, ans = call(base + "/infer/instance_segmentation", "POST", payload, headers=json_h)
    check(st == 200 and isinstance(ans, dict) and "predictions" in ans and "image" in ans, "v1 infer: %s" % st)
    compare(ans, predict(IMAGES[0]), "v1 infer")
    # a configuration: confidence_threshold 0.85, disable_preproc_auto_orientation, mask
    # decode mode and tradeoff (accepted, no effect on RF-DETR)
    payload.update({"confidence": 0.85, "disable_preproc_auto_orient": True, "mask_decode_mode": "accurate",
                    "tradeoff_factor": 0.0, "visualize_predictions": False, "disable_active_learning": False,
                    "source": "external", "class_agnostic_nms": False, "iou_threshold": 0.5,
                    "max_detections": 300, "max_candidates": 3000})
    st, _, ans = call(base + "/infer/instance_segmentation", "POST", payload, headers=json_h)
    compare(ans, predict(IMAGES[0], ("--confidence", "0.85", "--no-auto-orient")), "v1 infer with a configuration")
    # max_batch_size 2: one request with a list of images, a list back
    payload = {**key_param, "model_id": "tiny-seg/1",
               "image": [{"type": "base64", "value": b64_file(p)} for p in IMAGES]}
    st, _, ans = call(base + "/infer/instance_segmentation", "POST", payload, headers=json_h)
    check(st == 200 and isinstance(ans, list) and len(ans) == 2, "v1 list: %s" % st)
    if isinstance(ans, list) and len(ans) == 2:
        for a, p in zip(ans, IMAGES):
            compare(a, predict(p), "v1 list element")
    # client downsizing on: the image shrunk to the registry's input size, sent as JPEG
    img64, ratio, jpeg = shrink(IMAGES[1], desc["input_height"] if desc else 96, desc["input_width"] if desc else 96)
    payload = {**key_param, "model_id": "tiny-seg/1", "image": {"type": "base64", "value": img64}}
    st, _, ans = call(base + "/infer/instance_segmentation", "POST", payload, headers=json_h)
    with tempfile.NamedTemporaryFile(suffix=".jpg") as t:
        t.write(jpeg)
        t.flush()
        compare(ans, predict(t.name), "v1 infer of a client-downsized image")
    check(ratio is not None and st == 200 and ans["image"]["width"] <= 96 and ans["image"]["height"] <= 96,
          "downsized answer: %s" % (ans.get("image") if isinstance(ans, dict) else ans))
    if st == 200 and ratio:  # adjust_prediction_to_client_scaling_factor runs on it unchanged
        w = round(ans["image"]["width"] / ratio)
        check(abs(w - cv2.imread(IMAGES[1]).shape[1]) <= 1, "rescaled width %d" % w)
        for p in ans["predictions"]:
            check(all(k in p for k in ("x", "y", "width", "height", "points")), "prediction fields: %s" % list(p))


def v0_sequence(base):
    """client.select_api_v0(); client.infer(...): the legacy route."""
    params = {"api_key": KEY, "confidence": 0.85}
    st, _, ans = call(base + "/tiny-seg/1", "POST", b64_file(IMAGES[0]).encode(), params=params,
                      headers={"Content-Type": "application/json"})
    check(st == 200, "v0 infer: %s" % st)
    compare(ans, predict(IMAGES[0], ("--confidence", "0.85")), "v0 infer")
    # the hosted API's percent form
    st, _, ans = call(base + "/tiny-seg/1", "POST", b64_file(IMAGES[0]).encode(),
                      params={"api_key": KEY, "confidence": 85, "format": "json", "overlap": 30},
                      headers={"Content-Type": "application/json"})
    compare(ans, predict(IMAGES[0], ("--confidence", "0.85")), "v0 infer, confidence in percent")


def errors(base):
    """What the SDK's wrap_errors reads: JSON with "message" and the status."""
    st, hdrs, ans = call(base + "/model/registry", params={"api_key": "wrong"})
    check(st == 401 and isinstance(ans, dict) and "message" in ans and KEY not in json.dumps(ans),
          "wrong key: %s %s" % (st, ans))
    st, _, ans = call(base + "/model/registry", params={"api_key": "None"})  # the SDK without a key
    check(st == 401, "no key: %s" % st)
    st, _, ans = call(base + "/model/add", "POST", {"model_id": "other/3", "api_key": KEY},
                      headers={"Content-Type": "application/json"})
    check(st == 404 and "message" in ans, "unknown model: %s %s" % (st, ans))
    st, _, ans = call(base + "/infer/instance_segmentation", "POST",
                      {"api_key": KEY, "model_id": "tiny-seg/1", "image": {"type": "base64", "value": "bm90IGFuIGltYWdl"}},
                      headers={"Content-Type": "application/json"})
    check(st == 400 and "message" in ans, "not an image: %s %s" % (st, ans))


def real_sdk(base):
    try:
        from inference_sdk import InferenceConfiguration, InferenceHTTPClient
    except ImportError as e:
        print("SKIP inference_sdk itself: not importable here (%s); its request sequence was replayed instead" % e)
        return
    client = InferenceHTTPClient(api_url=base, api_key=KEY)
    info = client.get_server_info()
    check(info.name == "rfseg" and info.uuid, "get_server_info: %s" % info)
    compare(client.infer(IMAGES[0], model_id="tiny-seg/1"), predict(IMAGES[0]), "SDK v1 infer")
    client.configure(InferenceConfiguration(confidence_threshold=0.85))
    compare(client.infer(IMAGES[0], model_id="tiny-seg/1"), predict(IMAGES[0], ("--confidence", "0.85")), "SDK v1 confidence")
    with client.use_api_v0():
        compare(client.infer(IMAGES[0], model_id="tiny-seg/1"), predict(IMAGES[0], ("--confidence", "0.85")), "SDK v0")
    client.unload_model("tiny-seg/1")
    client.unload_all_models()


def main():
    srv = Server("--api-key", KEY)
    check(srv.url is not None, "rfseg serve did not start")
    if srv.url:
        st, _, info = call(srv.url + "/info")
        check(st == 200 and all(isinstance(info.get(k), str) and info[k] for k in ("name", "version", "uuid")),
              "get_server_info: %s" % info)
        v1_sequence(srv.url)
        v1_sequence(srv.url, headers_auth=True)
        v0_sequence(srv.url)
        errors(srv.url)
        st, _, reg = call(srv.url + "/model/clear", "POST")
        check(st == 200 and reg == {"models": []}, "unload_all_models: %s %s" % (st, reg))
        real_sdk(srv.url)
    check(srv.stop() == 0, "rfseg serve exit status")
    finish()


if __name__ == "__main__":
    main()
