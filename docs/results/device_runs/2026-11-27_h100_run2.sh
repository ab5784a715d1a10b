#!/bin/bash
# Second device call: bench_hf (quiet), then MiniLM recipe variants in parallel (1 seed each).
set -u
T0=$(date +%s); BUDGET=${BUDGET:-250}; DEADLINE=$((T0 + BUDGET)); ROOT=$PWD
OUT=${OUT:-/tmp/out}; mkdir -p $OUT/res; export PYTHONUNBUFFERED=1
left() { echo $((DEADLINE - $(date +%s))); }
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a $OUT/res/script.log; }
pack() { (cd logs/train/runs 2>/dev/null && for d in */; do ls $d/checkpoints > $d/ckpt_names.txt 2>/dev/null; done
  tar -czf $OUT/runs2.tar.gz --exclude='*.ckpt' --exclude='*.tmp' -C $ROOT logs/train/runs -C $OUT res 2>/dev/null); }
if [ -z "${DRY:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$ROOT/.gpu/pkgs
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > $OUT/res/pip.log 2>&1 || log "pip -e failed"
  command -v seqtagger-train > /dev/null || { mkdir -p /tmp/bin; export PATH=/tmp/bin:$PATH PYTHONPATH=$PYTHONPATH:$ROOT/src
    printf '#!/bin/bash\nexec python3 -m seqtagger.train "$@"\n' > /tmp/bin/seqtagger-train; chmod +x /tmp/bin/seqtagger-train; log "no entry point"; }
  mkdir -p /tmp/minilm && cp .gpu/minilm_fp16/*.json .gpu/minilm_fp16/vocab.txt /tmp/minilm/
  python3 -c "
from safetensors.torch import load_file, save_file
w = load_file('.gpu/minilm_fp16/model_fp16.safetensors')
save_file({k: v.float() for k, v in w.items()}, '/tmp/minilm/model.safetensors')"
  tar -xJf .gpu/data.tar.xz -C /tmp && export SEQTAGGER_DATA_DIR=/tmp/data; DEV=cuda
else
  DEV=cpu; export SEQTAGGER_DATA_DIR=${SEQTAGGER_DATA_DIR:-$ROOT/../shared/data}
  SMALL="trainer.max_epochs=1 trainer.limit_train_batches=3 trainer.limit_val_batches=2 trainer.limit_test_batches=2"
fi
log "set-up done"
timed() { local name=$1; shift; local s=$(date +%s.%N)
  SEQTAGGER_CACHE_DIR=/tmp/cache/$name timeout $(( $(left) > 5 ? $(left) : 5 )) \
    seqtagger-train run_name=$name "$@" ${SMALL:-} > $OUT/res/$name.log 2>&1
  local rc=$?; local e=$(date +%s.%N)
  echo "$name rc=$rc wall=$(python3 -c "print(round($e-$s,1))") args=$*" >> $OUT/res/done.txt; log "$name rc=$rc"; }
HB="--device $DEV --batches 40 --sentences 2000 --repeats 3"; [ -n "${DRY:-}" ] && HB="--device cpu --batches 2 --sentences 20 --repeats 1"
SEQTAGGER_CACHE_DIR=/tmp/cache/hb timeout 40 python3 scripts/bench_hf.py $HB --output $OUT/res/bench_hf_$DEV.json > $OUT/res/bench_hf.log 2>&1
log "bench_hf rc=$?"; pack
if [ -z "${DRY:-}" ] && command -v nvidia-cuda-mps-control > /dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog; mkdir -p /tmp/mps /tmp/mpslog
  nvidia-cuda-mps-control -d && timeout 40 python3 -c "import torch; torch.zeros(1).cuda().sum().item()" \
    && log "MPS on" || { echo quit | nvidia-cuda-mps-control; unset CUDA_MPS_PIPE_DIRECTORY; log "MPS off"; }
fi
while IFS= read -r line; do OMP_NUM_THREADS=2 timed ${line%%|*} ${line#*|} < /dev/null & sleep 1; done < .gpu/queue2.txt
while [ $(left) -gt 3 ] && [ -n "$(jobs -r)" ]; do sleep 3; [ $(( ($(date +%s) - T0) % 30 )) -lt 3 ] && pack; done
pkill -f "seqtagger-train run_name=v_"; wait; pack; cat $OUT/res/done.txt; log end
