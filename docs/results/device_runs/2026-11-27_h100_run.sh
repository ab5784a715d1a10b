#!/bin/bash
# One device call: set-up; quiet gpu_fast timings; MiniLM accuracy runs in parallel lanes; the
# benchmark (quiet) in what is left. Everything lands in $OUT (runs.tar.gz). DRY=1: CPU rehearsal.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-570}; DEADLINE=$((T0 + BUDGET)); ROOT=$PWD
OUT=${OUT:-/tmp/out}; mkdir -p $OUT/res; export PYTHONUNBUFFERED=1
left() { echo $((DEADLINE - $(date +%s))); }
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a $OUT/res/script.log; }
if [ -z "${DRY:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$ROOT/.gpu/pkgs
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > $OUT/res/pip.log 2>&1 || log "pip -e failed"
  mkdir -p /tmp/minilm && cp .gpu/minilm_fp16/*.json .gpu/minilm_fp16/vocab.txt /tmp/minilm/
  python3 -c "
from safetensors.torch import load_file, save_file
w = load_file('.gpu/minilm_fp16/model_fp16.safetensors')
save_file({k: v.float() for k, v in w.items()}, '/tmp/minilm/model.safetensors')"
  command -v seqtagger-train > /dev/null || { mkdir -p /tmp/bin; export PATH=/tmp/bin:$PATH PYTHONPATH=$PYTHONPATH:$ROOT/src
    printf '#!/bin/bash\nexec python3 -m seqtagger.train "$@"\n' > /tmp/bin/seqtagger-train; chmod +x /tmp/bin/seqtagger-train; log "no entry point: python3 -m"; }
  tar -xJf .gpu/data.tar.xz -C /tmp && export SEQTAGGER_DATA_DIR=/tmp/data
  DEV=cuda; nvidia-smi > $OUT/res/nvidia-smi.txt 2>&1; nproc >> $OUT/res/nvidia-smi.txt
else
  DEV=cpu; export SEQTAGGER_DATA_DIR=${SEQTAGGER_DATA_DIR:-$ROOT/../shared/data}
  SMALL="trainer.max_epochs=1 trainer.limit_train_batches=3 trainer.limit_val_batches=2 trainer.limit_test_batches=2"
fi
python3 -c "import torch,lightning,transformers,datasets,hydra; print(torch.__version__, lightning.__version__, transformers.__version__, datasets.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())" > $OUT/res/versions.txt 2>&1
log "set-up done: $(cat $OUT/res/versions.txt)"
pack() { (cd logs/train/runs 2>/dev/null && for d in */; do ls $d/checkpoints > $d/ckpt_names.txt 2>/dev/null; done
  tar -czf $OUT/runs.tar.gz --exclude='*.ckpt' --exclude='*.tmp' -C $ROOT logs/train/runs -C $OUT res 2>/dev/null); }
# one timed run: NAME ARGS...; fresh cache, wall from the command's start (data loading included)
timed() { local name=$1; shift; local s=$(date +%s.%N)
  SEQTAGGER_CACHE_DIR=/tmp/cache/$name timeout $(( $(left) > 5 ? $(left) : 5 )) \
    seqtagger-train run_name=$name "$@" ${SMALL:-} > $OUT/res/$name.log 2>&1
  local rc=$?; local e=$(date +%s.%N)
  echo "$name rc=$rc wall=$(python3 -c "print(round($e-$s,1))") args=$*" >> $OUT/res/done.txt; log "$name rc=$rc"; }
# phase 1, quiet: the GPU recipe, cpu_fast's batch 32 variant first, then as committed
GF="experiment=ud_ewt_gpu_fast"; [ -n "${DRY:-}" ] && GF="$GF trainer=default"
timed gpu_fast_c $GF data.batch_size=32 trainer.max_epochs=8 model.scheduler.max_lr=0.004 model.scheduler.pct_start=0.2 trainer.max_time=00:00:00:38
timed gpu_fast_a $GF
pack
# phase 2: MiniLM (then BiLSTM) accuracy runs, 8 lanes, until they end or the benchmark's slot begins
if [ -z "${DRY:-}" ] && command -v nvidia-cuda-mps-control > /dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog; mkdir -p /tmp/mps /tmp/mpslog
  nvidia-cuda-mps-control -d && timeout 40 python3 -c "import torch; torch.zeros(1).cuda().sum().item()" \
    && log "MPS on" || { echo quit | nvidia-cuda-mps-control; unset CUDA_MPS_PIPE_DIRECTORY; log "MPS off"; }
fi
SAVED=$DEADLINE; DEADLINE=$((SAVED - ${BENCH_S:-140}))
cp .gpu/queue.txt /tmp/queue.txt
lane() { while [ $(left) -gt 20 ]; do
    local line=$(flock /tmp/queue.lock bash -c 'l=$(head -n1 /tmp/queue.txt); [ -n "$l" ] && sed -i 1d /tmp/queue.txt; echo "$l"')
    [ -z "$line" ] && break
    OMP_NUM_THREADS=2 timed ${line%%|*} ${line#*|}
  done; }
for i in 1 2 3 4 5 6 7 8; do lane $i & sleep 1; done
while [ $(left) -gt 3 ] && [ -n "$(jobs -r)" ]; do sleep 3; done
pkill -f "seqtagger-train run_name=(minilm|i10)_"; wait; log "phase 2 over"; pack
[ -n "${CUDA_MPS_PIPE_DIRECTORY:-}" ] && { echo quit | nvidia-cuda-mps-control; unset CUDA_MPS_PIPE_DIRECTORY; sleep 2; }
# phase 3, quiet: the benchmark in what is left (a JSON row per finished cell)
DEADLINE=$SAVED
BARGS="--device $DEV --settings bilstm hf bilstm_crf --batch-sizes 256 32 --bf16 --batches 20 --val-batches 3 --repeats 3 --loss-reps 5 --no-data"
[ -n "${DRY:-}" ] && BARGS="--corpus synthetic --synthetic-sentences 200 --device cpu --settings bilstm hf --batch-sizes 8 --batches 3 --val-batches 1 --repeats 1 --loss-reps 1 --no-data"
SEQTAGGER_CACHE_DIR=/tmp/cache/bench timeout $(( $(left) - 8 > 10 ? $(left) - 8 : 10 )) \
  python3 scripts/benchmark.py $BARGS --out $OUT/res/benchmark_$DEV.json > $OUT/res/benchmark.log 2>&1
log "benchmark rc=$?"; pack; cat $OUT/res/done.txt; log end
