#!/usr/bin/env bash
# Container-equivalent check: the steps the Docker image runs, without Docker.
#
#   build    scripts/fetch_weights.py fills a fresh TORCH_HOME, as the image's RUN step
#            does. Without network the download cannot happen, so a stand-in file with
#            random values is put where the build would have downloaded the real one;
#            the script must then find it, make it world-readable and prove that
#            weights="auto" resolves it.
#   run      scripts/serve.sh (the image's CMD) with no network at all, DROPLAB_WEIGHTS
#            unset, the cache above: HEALTHCHECK's scripts/healthcheck.py must pass, the
#            Playground must render with the cached (not random) weights and no
#            exception, and SIGTERM (docker stop) must end the server within 20 s.
#
# Runs inside a private network namespace (unshare -n, loopback only) when it can, so
# "needs no network at run time" is tested, not assumed. Installing is the test command's
# job (scripts/test.sh). Usage: scripts/container_check.sh [resnet18|resnet50]
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."
MODEL="${1:-resnet18}"  # resnet18 keeps CI fast; the image's default is resnet50
PY="${PYTHON:-python3}"

if [ -z "${DROPLAB_IN_NETNS:-}" ]; then
  if unshare -n ip link set lo up 2>/dev/null; then
    # shellcheck disable=SC2016  # $0/$@ belong to the inner bash, not to this one
    exec env DROPLAB_IN_NETNS=1 unshare -n bash -c 'ip link set lo up && exec "$0" "$@"' \
      "$SELF" "$@"
  fi
  echo "container_check: cannot create a network namespace (not root, or no iproute2?); the host's" \
       "network stays reachable, so offline resolution is not proven here" >&2
fi

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -9 "$SERVER_PID"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export TORCH_HOME="$WORK/torch" DROPLAB_MODEL="$MODEL" PYTHONUNBUFFERED=1
unset DROPLAB_WEIGHTS

echo "== resolve: weights=auto and DROPLAB_WEIGHTS without network"
if [ -n "${DROPLAB_IN_NETNS:-}" ]; then
  "$PY" - <<'EOF'
# What a container with no usable weights does: "auto" falls back to random init, flagged,
# saying why; a DROPLAB_WEIGHTS file the operator named must load or raise WeightsError.
import os, sys, torch, torchvision
sys.path.insert(0, os.getcwd())
import models
name = os.environ["DROPLAB_MODEL"]
cache = os.path.join(torch.hub.get_dir(), "checkpoints",
                     os.path.basename(torchvision.models.get_model_weights(name).DEFAULT.url))

def auto():
    models.clear_cache()
    return models.load(name, "auto", device="cpu")

def operator_file(path):
    models.clear_cache()
    os.environ["DROPLAB_WEIGHTS"] = path
    try:
        models.load(name, "auto", device="cpu")
    except models.WeightsError as err:
        return str(err)
    finally:
        del os.environ["DROPLAB_WEIGHTS"]
    sys.exit(f"DROPLAB_WEIGHTS={path} loaded instead of raising WeightsError")

m = auto()
assert m.is_random and "unreachable" in m.weights_source, m.weights_source
print("empty cache   -> random, flagged:", m.weights_source)
os.makedirs(os.path.dirname(cache))
with open(cache, "wb") as f:
    f.write(b"not a checkpoint")
m = auto()
assert m.is_random and "corrupt" in m.weights_source, m.weights_source
print("corrupt cache -> random, flagged:", m.weights_source)
os.remove(cache)
msg = operator_file(os.path.join(os.environ["TORCH_HOME"], "missing.pth"))
assert "does not exist" in msg, msg
print("missing file  -> WeightsError:", msg)
bad = os.path.join(os.environ["TORCH_HOME"], "corrupt.pth")
with open(bad, "wb") as f:
    f.write(os.urandom(4096))
msg = operator_file(bad)
assert "corrupt" in msg, msg
print("corrupt file  -> WeightsError:", msg)
os.remove(bad)
EOF
else
  echo "skipped: without a network namespace an empty cache could really download"
fi

echo "== build: weights into $TORCH_HOME"
"$PY" - <<'EOF'
# Stand-in for the download: a state dict of the right architecture under the file name
# torchvision's default weights use, with torch.hub's download mode (0600).
import os, torch, torchvision
name = os.environ["DROPLAB_MODEL"]
url = torchvision.models.get_model_weights(name).DEFAULT.url
path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
os.makedirs(os.path.dirname(path), exist_ok=True)
torch.save(torchvision.models.get_model(name, weights=None).state_dict(), path + ".part")
os.chmod(path + ".part", 0o600)
os.replace(path + ".part", path)
print("stand-in weights:", path)
EOF
"$PY" scripts/fetch_weights.py --model "$MODEL"
find "$TORCH_HOME" -type f ! -perm -o=r | grep . && { echo "unreadable cache files" >&2; exit 1; }

echo "== run: scripts/serve.sh"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PORT DROPLAB_ADDRESS=127.0.0.1
LOG="$WORK/server.log"
bash scripts/serve.sh >"$LOG" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 120); do
  if "$PY" scripts/healthcheck.py; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$LOG"; echo "server exited" >&2; exit 1; fi
  sleep 1
done
"$PY" scripts/healthcheck.py || { cat "$LOG"; echo "not healthy after 120 s" >&2; exit 1; }
echo "healthy on port $PORT"

"$PY" - <<'EOF'
# One session, as a browser would open it: the Playground renders, no exception, and the
# frame does not warn about random weights (the cache must have been used).
import os, sys
sys.path.insert(0, os.getcwd())
from bench.load_test import Session
# The Playground is the default page: its URL path is the root.
sess = Session(f"http://127.0.0.1:{os.environ['PORT']}", "", "seed=1", timeout=240)
run = sess.open()
sess.close()
texts = " ".join(run.texts())
problems = [f"exception: {e}" for e in run.exceptions]
if not run.ok:
    problems.append(f"script finished with status {run.status}")
if "Random weights" in texts:
    problems.append("the page warns about random weights: the cache was not used")
if "Playground" not in run.texts() or not run.widgets():
    problems.append("the Playground did not render with its controls")
print(f"playground: {len(run.elements)} elements, {len(run.widgets())} controls, "
      f"{run.latency_s:.1f} s")
if problems:
    sys.exit("\n".join(problems))
EOF

echo "== stop: SIGTERM"
kill -TERM "$SERVER_PID"
for _ in $(seq 1 40); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "server still running 20 s after SIGTERM" >&2; exit 1
fi
wait "$SERVER_PID" || true
SERVER_PID=""
if grep -q "Traceback" "$LOG"; then cat "$LOG"; echo "traceback in server log" >&2; exit 1; fi
echo "container_check: OK ($MODEL)"
