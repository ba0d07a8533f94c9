#!/usr/bin/env bash
# Regenerates the weight-free baseline rows of a board (DATASET=chebi20 or pubchem324k): lm-eval runs of `icma-copy`
# (the rank-1 shot's answer, per retriever) and `icma-echo` (the query itself) over the full test split, shots from
# the validation split (the full train split is not on the machine that built the boards; the pool is stated in
# the board's baselines.yaml).
# The samples lm-eval logs (~25 MB a task) are reduced to {"cid", "prediction"} per document (gzip, mtime 0);
# results_*.json files are kept verbatim, and the board checks its re-scoring against them.
# Usage: DATASET=chebi20 DATA=../shared/data/chebi20/molt5 [ONLY="icma-echo"] leaderboards/make_baselines.sh
set -euo pipefail
dataset="${DATASET:-chebi20}"
here="$(cd "$(dirname "$0")" && pwd)/$dataset/inputs/baselines"
mkdir -p "$here"
data="$(cd "${DATA:?set DATA to the folder holding the test.txt and validation.txt of DATASET}" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
run() {  # name model task method
    local name="$1" model="$2" task="$3" method="$4"
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi  # ONLY="icma-echo ..." reruns some
    local meta="{\"pool_split\":\"validation\",\"data_path\":\"$data\"${method:+,$method}}"
    lm_eval --model "$model" --model_args "pretrained=$name" --tasks "$task" --metadata "$meta" \
        --log_samples --output_path "$scratch/$name" >/dev/null
    python - "$scratch/$name" "$here/$name" "$task" <<'PY'
import gzip, json, pathlib, shutil, sys
src, dest, task = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
dest.mkdir(parents=True, exist_ok=True)
results = sorted(src.rglob("results_*.json"))[-1]
doc = json.loads(results.read_text())
for key in ("config_source",):  # machine-specific absolute paths say nothing about the run
    for cfg in doc.get("configs", {}).values():
        cfg.get("metadata", {}).pop(key, None)
for cfg in doc.get("configs", {}).values():
    cfg.get("metadata", {})["data_path"] = "<dataset folder>"
(dest / f"{task}.results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
samples = sorted(src.rglob(f"samples_{task}_*.jsonl"))[-1]
rows = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
rows.sort(key=lambda r: r["doc_id"])
slim = "".join(json.dumps({"cid": r["doc"]["cid"], "prediction": r["scored"]["prediction"]}, ensure_ascii=False) + "\n" for r in rows)
(dest / f"{task}.jsonl.gz").write_bytes(gzip.compress(slim.encode(), mtime=0))
PY
}
for retriever in rdkit_fp morgan graph random; do
    run "icma-copy-$retriever" icma-copy icma_${dataset}_mol2caption "\"m2c_method\":\"$retriever\""
done
for retriever in bm25 random; do
    run "icma-copy-$retriever" icma-copy icma_${dataset}_caption2mol "\"c2m_method\":\"$retriever\""
done
run icma-echo icma-echo icma_${dataset}_mol2caption ""
run icma-echo icma-echo icma_${dataset}_caption2mol ""
