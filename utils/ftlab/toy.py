"""The toy base model: a tiny Llama built locally from the course corpus, deterministic and cached.

It has the parts a real Llama-2-style checkpoint has, so every lab exercises real code paths:
a SentencePiece byte-fallback BPE tokenizer (``tokenizer.model`` plus the ``tokenizer.json`` that
transformers derives from it), BOS/EOS/pad, a chat template, ``q_proj``/``v_proj``/MLP projections,
safetensors weights and a generation config. It is pre-trained on ``datasets/corpus.jsonl`` only, so it
knows the toy world's facts as plain text but has never seen a chat.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import sentencepiece as spm
import torch
import transformers
from tqdm.auto import tqdm
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

from ftlab.data import load_rows
from ftlab.files import staged_dir
from ftlab.paths import DATASETS_DIR, cache_dir

TOY_VERSION = 1  # bump when the build recipe changes; it is part of the cache key
CHAT_MARKERS = ["<|system|>", "<|user|>", "<|assistant|>"]
# Each turn is "<|role|>content</s>"; the generation prompt ends with "<|assistant|>".
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role'] + ': use system, user or assistant') }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


@dataclass(frozen=True)
class ToySpec:
    """Everything that determines the toy model; changing any field gives a new cache entry."""

    vocab_size: int = 640
    hidden_size: int = 128
    intermediate_size: int = 384  # a multiple of 64: bitsandbytes 4-bit blocks (Lab 04) need it on CPU
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512
    seq_len: int = 128
    batch_size: int = 16
    steps: int = 300
    learning_rate: float = 3e-3
    seed: int = 0


def _corpus_texts() -> list[str]:
    return [row["text"] for row in load_rows(DATASETS_DIR / "corpus.jsonl", "corpus")]


def _tokenizer_texts() -> list[str]:
    """The corpus plus every SFT message: the text the tokenizer's vocabulary is learned from."""
    texts = _corpus_texts()
    for row in load_rows(DATASETS_DIR / "sft.jsonl", "sft"):
        texts += [message["content"] for message in row["messages"]]
    return texts


def cache_key(spec: ToySpec = ToySpec()) -> str:
    """A short key over the recipe version, the spec, the source data and the library versions."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": TOY_VERSION, "spec": asdict(spec), "torch": torch.__version__,
                              "transformers": transformers.__version__}, sort_keys=True).encode())
    for name in ("corpus.jsonl", "sft.jsonl"):
        digest.update((DATASETS_DIR / name).read_bytes())
    return f"toy-v{TOY_VERSION}-{digest.hexdigest()[:12]}"


def _train_tokenizer(spec: ToySpec, out_dir: Path):
    """Train a Llama-2-style SentencePiece BPE (byte fallback, identity normalisation) and wrap it for HF."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_tokenizer_texts()), model_writer=model, model_type="bpe",
        vocab_size=spec.vocab_size, byte_fallback=True, split_digits=True, character_coverage=1.0,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, control_symbols=CHAT_MARKERS, num_threads=1, minloglevel=2)
    (out_dir / "tokenizer.model").write_bytes(model.getvalue())
    (out_dir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "LlamaTokenizer", "legacy": True, "add_bos_token": True, "add_eos_token": False}))
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    tokenizer.add_special_tokens({"pad_token": "<pad>", "additional_special_tokens": CHAT_MARKERS})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    # Legacy (Llama-2) spacing: a "▁" starts the text after every special token, as llama.cpp does.
    # transformers does not write this flag back, so record it for every later load.
    config_path = out_dir / "tokenizer_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "legacy": True}, indent=2))
    return AutoTokenizer.from_pretrained(out_dir)


def _packed_batches(token_ids: list[list[int]], spec: ToySpec, rng: random.Random):
    """Endless batches of ``seq_len`` tokens cut from the shuffled, concatenated documents."""
    while True:
        order = list(range(len(token_ids)))
        rng.shuffle(order)
        stream = [tok for i in order for tok in token_ids[i]]
        n_chunks = len(stream) // spec.seq_len
        chunks = torch.tensor(stream[:n_chunks * spec.seq_len]).view(n_chunks, spec.seq_len)
        for start in range(0, n_chunks - spec.batch_size + 1, spec.batch_size):
            yield chunks[start:start + spec.batch_size]


def _pretrain(model: LlamaForCausalLM, tokenizer, spec: ToySpec) -> list[float]:
    """Plain next-token pre-training on the corpus; returns the loss of every step."""
    docs = [[tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]
            for text in _corpus_texts()]
    batches = _packed_batches(docs, spec, random.Random(spec.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    warmup = max(1, spec.steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, spec.steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    losses = []
    model.train()
    for _ in tqdm(range(spec.steps), desc="pre-training the toy model", leave=False):
        batch = next(batches)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 6))
    model.eval()
    return losses


def build(out_dir: str | Path, spec: ToySpec = ToySpec()) -> Path:
    """Build the toy model into ``out_dir`` (created if missing; it must be empty); returns the directory."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: not empty; the toy model is built into an empty directory")
    torch.manual_seed(spec.seed)
    tokenizer = _train_tokenizer(spec, out_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers, num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads, max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, rms_norm_eps=1e-5)
    model = LlamaForCausalLM(config)
    losses = _pretrain(model, tokenizer, spec)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False, max_new_tokens=32)
    model.save_pretrained(out_dir)
    (out_dir / "toy_build.json").write_text(json.dumps(
        {"key": cache_key(spec), "spec": asdict(spec), "parameters": model.num_parameters(),
         "pretrain_loss": losses}, indent=1))
    return out_dir


def model_dir(spec: ToySpec = ToySpec(), root: str | Path | None = None) -> Path:
    """The cached toy model's directory, building it first if needed (staged, then renamed into place).

    An entry without ``toy_build.json`` (from an older, interrupted layout) is replaced. When two processes build
    the same entry at once, the first to finish wins and the other uses it (``ftlab.files.staged_dir``).
    """
    root = Path(root) if root is not None else cache_dir()
    final = root / cache_key(spec)
    if not (final / "toy_build.json").is_file():
        with staged_dir(final, replace=True) as staging:
            build(staging, spec)
    return final
