"""Help and command-line conventions: `rfseg CMD --help|-h` and `rfseg help CMD` for every
command (exit 0, every option the command accepts listed, with its default where it has
one), the man page lists every option, `--opt=value`, `--`, one confidence syntax (0.4 or
40%), clear errors (exit 2) for unknown options, commands, sizes and values."""
import json
import os
import re
import subprocess
import tempfile

from clitest import RFSEG, SHARED, check, finish

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMG = os.path.join(SHARED, "fixtures", "images", "chelsea.png")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
COMMANDS = ["info", "predict", "video", "bench", "serve", "convert"]


def run(args, **kw):
    return subprocess.run([os.path.abspath(RFSEG)] + args, capture_output=True, text=True, env=ENV, timeout=120, **kw)


def options_in_source(cmd):
    """Every "--option" string literal a command's source compares against."""
    src = open(os.path.join(ROOT, "tools", "cmd_%s.c" % ("info" if cmd == "convert" else cmd))).read()
    found = set(re.findall(r'strcmp\((?:o|opt|argv\[i\]), "(--[a-z0-9-]+)"\)', src))
    if cmd == "info":  # cmd_info.c also holds convert, whose --overwrite info does not take
        found.discard("--overwrite")
    return found


for cmd in COMMANDS:
    texts = []
    for args in ([cmd, "--help"], [cmd, "-h"], ["help", cmd], [cmd, "--model", "x", "--help"]):
        p = run(args)
        check(p.returncode == 0, "%s: exit 0 (got %d)" % (" ".join(args), p.returncode))
        check(p.stdout.startswith("usage: rfseg " + cmd), "%s: usage on stdout" % " ".join(args))
        check(p.stderr == "", "%s: nothing on stderr" % " ".join(args))
        texts.append(p.stdout)
    check(len(set(texts)) == 1, "%s: the same help every way" % cmd)
    text = texts[0]
    for opt in sorted(options_in_source(cmd)):
        check(re.search(r"(^|\s)%s\b" % re.escape(opt), text) is not None, "%s --help lists %s" % (cmd, opt))
    # every option that takes a value says its default (or is an input/output of the run)
    entries, cur = [], None
    for line in text.split("options:\n")[1].split("\n\n")[0].split("\n"):
        if re.match(r"^  (-\w, |    )--", line):
            cur = [line]
            entries.append(cur)
        elif cur is not None:
            cur.append(line)
    inputs = {"--model", "--random-weights", "--source", "--jsonl", "--annotate", "--raw-out", "--threshold"}
    for e in entries:
        m = re.match(r"\s+(?:-\w, )?(--[a-z0-9-]+)( [A-Z])?", e[0])
        if m and m.group(2) and m.group(1) not in inputs:
            check("default" in " ".join(e), "%s %s names its default" % (cmd, m.group(1)))
    check(len(entries) >= 3, "%s: options parsed from the help (%d)" % (cmd, len(entries)))

p = run(["--help"])
check(p.returncode == 0 and all(("rfseg " + c) in p.stdout for c in COMMANDS), "rfseg --help lists every command")
p = run([])
check(p.returncode == 2 and "usage" in p.stderr, "no command: usage, exit 2")
p = run(["help", "nope"])
check(p.returncode == 2 and "nope" in p.stderr, "help for an unknown command: exit 2")
p = run(["frobnicate"])
check(p.returncode == 2 and "unknown command" in p.stderr, "unknown command: exit 2")

# the man page documents every command and option
man = open(os.path.join(ROOT, "docs", "rfseg.1")).read()
for cmd in COMMANDS:
    check(("\\fB%s\\fR" % cmd) in man or (".SS %s" % cmd) in man, "man page has %s" % cmd)
    for opt in sorted(options_in_source(cmd)):
        check(opt.replace("-", "\\-") in man, "man page lists %s %s" % (cmd, opt))
if subprocess.run(["sh", "-c", "command -v man"], capture_output=True).returncode == 0:
    p = subprocess.run(["man", "-l", os.path.join(ROOT, "docs", "rfseg.1")], capture_output=True, text=True,
                       env=dict(ENV, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
    check(p.returncode == 0 and "predict" in p.stdout, "man -l renders the page")

# unknown options, missing values, bad values: exit 2 with a message naming them, before any work
for args, needle in [
    (["predict", "--model", MODEL, "--frobnicate", IMG], "--frobnicate"),
    (["predict", "--model", MODEL, "-Z", IMG], "-Z"),
    (["predict", "--model", MODEL, IMG, "--confidence"], "needs a value"),
    (["predict", "--model", MODEL, "--clip-boxes=1", IMG], "takes no value"),
    (["predict", "--model", MODEL, "--confidence", "40", IMG], "40%"),
    (["predict", "--model", MODEL, "--confidence", "150%", IMG], "150%"),
    (["predict", "--model", MODEL, "--confidence", "-0.1", IMG], "-0.1"),
    (["predict", "--model", MODEL, "--confidence", "0.4x", IMG], "0.4x"),
    (["predict", "--model", MODEL, "--preset", "yolo", IMG], "roboflow rfdetr"),
    (["predict", "--model", MODEL, "--format=svg", IMG], "polygon rle"),
    (["predict", "--model", MODEL, "--device", "tpu", IMG], "cpu cuda"),
    (["video", "--model", MODEL, "--batch", "0", "x.mp4", "--jsonl", "-"], "--batch"),
    (["video", "--model", MODEL, "--max-fps", "fast", "x.mp4", "--jsonl", "-"], "--max-fps"),
    (["info", "--random-weights", "seg-giant"], "seg-nano"),
    (["info", "seg-gaint"], "seg-2xlarge"),
    (["bench", "--frobnicate"], "--frobnicate"),
    (["serve", "--frobnicate"], "--frobnicate"),
]:
    p = run(args)
    check(p.returncode in ((1, 2) if args[0] == "info" else (2,)) and needle in p.stderr and not p.stdout,
          "%s: refused naming %r (rc %d: %s)" % (" ".join(args[-3:]), needle, p.returncode, p.stderr.strip()[-200:]))


def detections(out):
    return [(d["x"], d["y"], d["width"], d["height"], d["class_id"], d["confidence"])
            for l in out.splitlines() for d in json.loads(l)["predictions"]]


# one confidence syntax: 0.85 and 85% give the same detections; --opt=value and -c too
ref = run(["predict", "--model", MODEL, "--confidence", "0.85", IMG])
check(ref.returncode == 0 and detections(ref.stdout), "predict --confidence 0.85")
for args in (["--confidence", "85%"], ["--confidence=85%"], ["-c", "0.85"], ["-c85%"], ["--threshold=0.85"]):
    p = run(["predict", "--model=" + MODEL] + args + [IMG])
    check(p.returncode == 0 and detections(p.stdout) == detections(ref.stdout), "%s equals 0.85" % " ".join(args))
p = run(["predict", "-m", MODEL, "--confidence", "33.3%", IMG])
p2 = run(["predict", "-m", MODEL, "--confidence", "0.333", IMG])
check(detections(p.stdout) == detections(p2.stdout), "33.3% equals 0.333")

# `--` ends the options: a file named like an option is an operand
with tempfile.TemporaryDirectory() as tmp:
    odd = os.path.join(tmp, "-weird.png")
    with open(IMG, "rb") as f, open(odd, "wb") as g:
        g.write(f.read())
    p = run(["predict", "-m", MODEL, "-c", "0.85", "--", "-weird.png"], cwd=tmp)
    check(p.returncode == 0 and detections(p.stdout) == detections(ref.stdout), "`--` then -weird.png is an image")
    p = run(["predict", "-m", MODEL, "-weird.png"], cwd=tmp)
    check(p.returncode == 2, "without `--`, -weird.png is an (unknown) option")

# bench and serve take --opt=value too (their parsers see --opt value)
p = run(["bench", "--random-weights=seg-giant"])
check(p.returncode != 0 and "seg-giant" in p.stderr, "bench --random-weights=... reaches bench")

finish()
