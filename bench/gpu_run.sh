#!/usr/bin/env bash
# Runs on the GPU machine (the `device` tool), in a copy of this checkout with .whl/ carried
# (built here by `.venv/bin/python -m bench.gpu_prepare`). Usage: bash bench/gpu_run.sh STEP...
#   setup        install the carried wheels into the image's Python, the grader (.pth + `grader` script),
#                the datasets (GRADER_DATA_DIR=/opt/grader-data) and bubblewrap when the image has none
#   smoke        one real (full) Práctica 3 notebook: bare nbconvert vs grade_submission (overhead)
#   selfcheck    self-check latency under Keras/JAX
#   batch N SYS  throughput of N real notebooks through the comma-separated systems SYS (one round),
#                e.g. `batch 3 nbconvert,ours-j3` (ours-jJ: `grader autograde` with J jobs on the GPU)
#   overhead VAR one real notebook through the comma-separated variants VAR of bench/overhead.py
#   kernel_ab VAR  the student cells of one real notebook under each kernel setting VAR (bench/kernel_ab.py)
# Results go to $OUT (the device tool brings them back). Keras runs on JAX: no TensorFlow wheel can travel.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
PY=$(command -v python3)
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 GRADER_DATA_DIR=/opt/grader-data TF_CPP_MIN_LOG_LEVEL=2

setup() {
  local t0=$SECONDS
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl || return 1
  local site bin
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  bin=$(dirname "$PY")
  echo "$PWD" > "$site/keras_course_grader_checkout.pth"
  # (the __main__ guard matters: Dask's Nanny starts workers with multiprocessing's spawn, which
  # imports the main script again in each child)
  printf '#!%s\nimport sys\nfrom grader.cli import main\nif __name__ == "__main__":\n    sys.exit(main())\n' \
    "$PY" > "$bin/grader"
  chmod +x "$bin/grader"
  mkdir -p /opt/grader-data
  "$PY" - <<'EOF' || return 1
import gzip, lzma, tarfile
from pathlib import Path
root = Path("/opt/grader-data")
with lzma.open(".whl/datasets.tar.xz") as raw, tarfile.open(fileobj=raw) as archive:
    for member in archive:
        data = archive.extractfile(member).read()
        target = root / member.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.name.startswith("fashion-mnist/"):
            target = target.with_name(target.name + ".gz")
            data = gzip.compress(data, compresslevel=1)
        target.write_bytes(data)
print("datasets:", sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()))
EOF
  chmod -R a+rX /opt/grader-data
  if ! command -v bwrap >/dev/null; then
    for deb in .whl/debs/bubblewrap_*.deb; do dpkg -x "$deb" /opt/bwrap; done
    ln -sf /opt/bwrap/usr/bin/bwrap /usr/local/bin/bwrap
  fi
  echo "setup: $((SECONDS - t0)) s; bwrap: $(command -v bwrap) $(bwrap --version 2>&1)"
  "$PY" - <<'EOF'
import jax, keras
print("keras", keras.__version__, keras.backend.backend(), "| jax", jax.__version__, jax.devices())
from grader.sandbox import sandbox_status
print("sandbox:", sandbox_status())
EOF
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc; free -g | head -2; uptime
}

smoke() {
  timeout 470 "$PY" -m bench.overhead --kind full --reps 1 --variants bare,ours --env KERAS_BACKEND=jax \
    --kernel-env CUDA_VISIBLE_DEVICES=0 --work /tmp/bench-smoke --out "$OUT/overhead_gpu.json"
}

selfcheck() {
  "$PY" -m bench.selfcheck_latency --reps 200 --out "$OUT/selfcheck_gpu.json"
}

batch() {  # batch N SYSTEMS (comma-separated, e.g. nbconvert,ours-j3)
  timeout "${BATCH_TIMEOUT:-570}" "$PY" -m bench.throughput --kind full --n "$1" --rounds 1 --systems "$2" \
    --env KERAS_BACKEND=jax --work "/tmp/bench-batch-$2" --out "$OUT/throughput_gpu_$(echo "$2" | tr , _).json"
  local rc=$?
  [ $rc -ne 0 ] && tail -30 /tmp/bench-batch-"$2"/*/autograde.log 2>/dev/null
  return $rc
}

overhead() {  # overhead VARIANTS (e.g. bare,ours,ours-nosandbox): one real notebook each, on the GPU
  timeout "${OVERHEAD_TIMEOUT:-470}" "$PY" -m bench.overhead --kind full --reps 1 --variants "$1" \
    --env KERAS_BACKEND=jax --kernel-env CUDA_VISIBLE_DEVICES=0 --work "/tmp/bench-overhead-$1" \
    --out "$OUT/overhead_gpu_$(echo "$1" | tr , _).json"
}

kernel_ab() {  # kernel_ab VARIANTS (e.g. bare,prealloc-off,memfrac10): bare kernels, one rep each
  timeout "${AB_TIMEOUT:-470}" "$PY" -m bench.kernel_ab --kind full --reps 1 --variants "$1" \
    --env KERAS_BACKEND=jax --env CUDA_VISIBLE_DEVICES=0 --out "$OUT/kernel_ab_gpu.json"
}

step=${1:-}
shift || true
case "$step" in
  setup) setup ;;
  smoke) smoke ;;
  selfcheck) selfcheck ;;
  batch) batch "$@" ;;
  overhead) overhead "$@" ;;
  kernel_ab) kernel_ab "$@" ;;
  *) echo "usage: $0 setup|smoke|selfcheck|batch N SYSTEMS|overhead VARIANTS|kernel_ab VARIANTS" >&2; exit 2 ;;
esac
