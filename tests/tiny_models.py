"""Tiny models built offline for the tests: a GPT-2 and a T5 with a character-level tokenizer (one token per
character, so a prompt's length in tokens is its length in characters)."""

from __future__ import annotations

from pathlib import Path

CHARS = [chr(i) for i in range(32, 127)] + ["\n", "\t"]


def _char_tokenizer(special: dict[str, int], *, eos: str, pad: str, seq2seq: bool, max_len: int):
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {**special, **{c: i + len(special) for i, c in enumerate(CHARS)}}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))  # one token per character
    core.decoder = decoders.Fuse()
    if seq2seq:  # T5 appends </s> to every encoded text, as lm-eval's seq2seq encoder expects
        core.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", special_tokens=[(eos, special[eos])]
        )
    kwargs = {} if seq2seq else {"bos_token": eos}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        eos_token=eos,
        pad_token=pad,
        model_max_length=max_len,
        **kwargs,
    )
    return tok, len(vocab)


def build_tiny_gpt2(
    path: Path, *, n_positions: int = 1024, n_embd: int = 32, n_layer: int = 1, seed: int = 0
) -> Path:
    """A randomly initialised GPT-2 (1 layer, 32 dims by default) saved with its tokenizer as an HF folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok, vocab = _char_tokenizer(
        {"<unk>": 0, "<|endoftext|>": 1},
        eos="<|endoftext|>",
        pad="<|endoftext|>",
        seq2seq=False,
        max_len=n_positions,
    )
    config = GPT2Config(
        vocab_size=vocab, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=2,
        bos_token_id=1, eos_token_id=1,
    )  # fmt: skip
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def build_tiny_t5(path: Path, *, max_len: int = 1024, seed: int = 0) -> Path:
    """A randomly initialised T5 (1 encoder + 1 decoder layer, 32 dims) with a character tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tok, vocab = _char_tokenizer(
        {"<pad>": 0, "</s>": 1, "<unk>": 2}, eos="</s>", pad="<pad>", seq2seq=True, max_len=max_len
    )
    config = T5Config(
        vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path
