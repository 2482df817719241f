#!/bin/bash
# On the device, from the root of the checkout that the device tool sends:
#   bench/gpu/cache_run.sh NAME MODEL SHAPE CACHE HOME_DIR   (run.sh settings in the environment)
# How issue 11's follow-up measured three more shapes and the compile-cache reuse with the GPU kit
# (../shared/gpu): KIT is where the kit was copied (default .gpu/kit), CONFIG the render of
# bench/gpu/gpu-check.yaml (default .gpu/rendered), SHAPE one of bench/gpu/*.json. NAME names
# the $OUT subfolder; run it twice with the same CACHE to measure a start on a warm cache.
# Runs the kit's run.sh for MODEL with the pod's compile-cache environment (as llmctl renders it:
# VLLM_CACHE_ROOT, TRITON_CACHE_DIR, TORCHINDUCTOR_CACHE_DIR, FLASHINFER_WORKSPACE_BASE,
# CUDA_CACHE_PATH under CACHE) and HOME=HOME_DIR; then lists what was written where.
set -u
NAME=$1 MODEL=$2 SHAPE=$3 C=$4 H=$5
export GPU_WORK=/root/llmctl-gpu
mkdir -p "$C" "$H" "$OUT/$NAME"
export VLLM_CACHE_ROOT=$C/vllm TRITON_CACHE_DIR=$C/triton TORCHINDUCTOR_CACHE_DIR=$C/inductor \
  FLASHINFER_WORKSPACE_BASE=$C/flashinfer CUDA_CACHE_PATH=$C/nv HOME=$H
touch /tmp/.mark-$NAME
echo "== $NAME: cache $C ($(du -sh "$C" | cut -f1)), HOME $H ($(du -sh "$H" | cut -f1))"
OUT=$OUT/$NAME MODEL=$MODEL bash "${KIT:-.gpu/kit}/run.sh" "${CONFIG:-.gpu/rendered}" "$SHAPE"
rc=$?
echo "== $NAME: run.sh exit $rc"
echo "== cache dirs:"; du -sh "$C"/* 2>/dev/null
echo "== written under HOME:"; (cd "$H" && du -sh .[!.]* * 2>/dev/null; find . -maxdepth 4 -type d | head -30)
echo "== new under /tmp, /root/.cache, /root/.triton, /root/.nv:"; find /tmp /root/.cache /root/.triton /root/.nv /root/.config -maxdepth 2 -newer /tmp/.mark-$NAME 2>/dev/null | grep -v "^/tmp/.mark" | head -30
python3 - "$OUT/$NAME/summary.json" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception as e:
    print("no summary", e); sys.exit()
print("READY", s.get("ready", {}).get("health_200_after_s"), "vllm_log", json.dumps(s.get("vllm_log")))
for c, b in (s.get("bench") or {}).items():
    print("BENCH", c, round(b["output_tok_s"]), "peak", b.get("peak_output_tok_s"), "ttft_p50", round(b["ttft_p50_ms"]), "itl_p50", round(b["itl_p50_ms"], 2), "n", b["completed"], "dur", round(b["duration_s"], 1))
print("PENDING", s.get("pending"), "DRAIN", json.dumps({k: s.get("drain", {}).get(k) for k in ("launcher_exit_code", "exit_after_sigterm_s")}))
PY
exit $rc
