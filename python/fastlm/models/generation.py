"""Text generation: greedy or sampled decoding with a KV cache, for DecoderModel and EncoderDecoderModel.

Dimension legend: B batch, S prompt width (padded), N new tokens, V vocabulary, L = S + N buffer width.

Prompts come left-padded (attention_mask 0 on the left), as HF expects. Internally each row is left-ALIGNED:
its real tokens are moved to positions 0..len_b-1, so every row's positions start at 0 (what HF computes from the
attention mask) and the KV cache needs no padding mask (row b reads only its first seqlens[b] cache rows). The
rejected alternative, keeping the left padding inside the cache, needs a per-row key mask at every step, which
`attention_with_kvcache` does not take.

The output is HF-shaped: the prompt as given (left padding kept) followed by the new tokens; after a row emits
eos it is filled with pad_token_id; generation stops when every row is done or after max_new_tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Union

import torch
from torch import Tensor

from .decoder import DecoderModel
from .encoder_decoder import EncoderDecoderModel


@dataclass
class GenerationConfig:
    """max_new_tokens: tokens to add per row. do_sample=False is greedy (temperature/top_k/top_p are ignored).
    temperature > 0 divides the logits; top_k > 0 keeps the k most likely tokens; top_p < 1 keeps the smallest
    set whose probability reaches top_p (nucleus). repetition_penalty > 1 makes tokens already in the row
    (prompt included) less likely: positive logits are divided by it, negative ones multiplied (CTRL rule).
    eos_token_id: an id or ids that end a row. pad_token_id: fills finished rows (None: the model's).
    use_cache: reuse keys/values across steps (same result as without, only faster).
    seed: sampling is reproducible for a given seed (a private generator; the global RNG is not touched).
    """

    max_new_tokens: int = 20
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    eos_token_id: Optional[Union[int, Sequence[int]]] = None
    pad_token_id: Optional[int] = None
    use_cache: bool = True
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 0:
            raise ValueError(f"GenerationConfig.max_new_tokens must be an int >= 0; got {self.max_new_tokens!r}")
        if self.temperature <= 0:
            raise ValueError(f"GenerationConfig.temperature must be > 0 (use do_sample=False for greedy); "
                             f"got {self.temperature!r}")
        if self.top_k < 0:
            raise ValueError(f"GenerationConfig.top_k must be >= 0 (0 = off); got {self.top_k!r}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"GenerationConfig.top_p must be in (0, 1]; got {self.top_p!r}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"GenerationConfig.repetition_penalty must be > 0; got {self.repetition_penalty!r}")


def process_logits(logits: Tensor, seen: Optional[Tensor], cfg: GenerationConfig) -> Tensor:
    """logits (B, V) float -> processed logits (B, V) with -inf on removed tokens. seen (B, V) bool."""
    logits = logits.float()
    if cfg.repetition_penalty != 1.0 and seen is not None:
        pen = torch.where(logits > 0, logits / cfg.repetition_penalty, logits * cfg.repetition_penalty)
        logits = torch.where(seen, pen, logits)
    if not cfg.do_sample:
        return logits
    logits = logits / cfg.temperature
    if cfg.top_k > 0 and cfg.top_k < logits.shape[-1]:
        kth = logits.topk(cfg.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass of the more likely tokens
        drop_sorted = before >= cfg.top_p  # the first token always stays (before = 0)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _pick(logits: Tensor, seen: Optional[Tensor], cfg: GenerationConfig, gen: Optional[torch.Generator]) -> Tensor:
    lg = process_logits(logits, seen, cfg)
    if not cfg.do_sample:
        return lg.argmax(-1)
    return torch.multinomial(lg.softmax(-1), 1, generator=gen)[:, 0]


@torch.no_grad()
def generate(model: Union[DecoderModel, EncoderDecoderModel], input_ids: Tensor,
             attention_mask: Optional[Tensor] = None, config: Optional[GenerationConfig] = None,
             **overrides: Any) -> Tensor:
    """Generate continuations. input_ids (B, S) left-padded prompts (encoder inputs for an encoder-decoder model),
    attention_mask (B, S) 1 = real token (left or right padding: rows are re-aligned internally). Options: a
    GenerationConfig and/or its fields as keywords.

    Returns (B, S + N) for a DecoderModel (prompt + new tokens) and (B, 1 + N) for an EncoderDecoderModel
    (decoder start token + new tokens), N <= max_new_tokens.
    """
    if not isinstance(model, (DecoderModel, EncoderDecoderModel)):
        raise TypeError(f"generate: expected a DecoderModel or EncoderDecoderModel; got {type(model).__name__}")
    cfg = GenerationConfig(**{**(config.__dict__ if config is not None else {}), **overrides})
    if input_ids.dim() != 2:
        raise ValueError(f"generate: input_ids must be (batch, seqlen); got shape {tuple(input_ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"generate: attention_mask shape {tuple(attention_mask.shape)} != input_ids shape "
                         f"{tuple(input_ids.shape)}")
    mask = attention_mask.bool()
    if not bool(mask.any(1).all()):
        raise ValueError("generate: every row needs at least one real token (attention_mask all 0 in a row)")
    mcfg = model.cfg
    pad = mcfg.pad_token_id if cfg.pad_token_id is None else cfg.pad_token_id
    eos = [] if cfg.eos_token_id is None else (
        [cfg.eos_token_id] if isinstance(cfg.eos_token_id, int) else list(cfg.eos_token_id))
    device = input_ids.device
    gen = None
    if cfg.do_sample and cfg.seed is not None:
        gen = torch.Generator(device=device).manual_seed(cfg.seed)
    B, S = input_ids.shape
    N = cfg.max_new_tokens
    rows = torch.arange(B, device=device)

    lens = mask.sum(1)  # (B,) real tokens per row
    order = torch.sort((~mask).int(), dim=1, stable=True).indices  # real tokens first, in order
    aligned = input_ids.gather(1, order)  # (B, S) left-aligned: every row's positions start at 0
    aligned_mask = torch.arange(S, device=device)[None] < lens[:, None]
    aligned = aligned.masked_fill(~aligned_mask, pad)

    if isinstance(model, EncoderDecoderModel):
        memory = model.encode(aligned, aligned_mask)  # (B, S, d): computed once for all steps
        attention_mask = aligned_mask
        buf = torch.full((B, 1 + N), pad, dtype=torch.long, device=device)
        assert mcfg.decoder_start_token_id is not None  # resolved by ModelConfig.__post_init__
        buf[:, 0] = mcfg.decoder_start_token_id
        lens = torch.ones(B, dtype=torch.long, device=device)
        step: Union[_EncDecStepper, _DecoderStepper] = _EncDecStepper(model, memory, attention_mask, buf, cfg.use_cache)
    elif isinstance(model, DecoderModel):
        if S + N > mcfg.max_seq_len and mcfg.position in ("learned", "sinusoidal"):
            raise ValueError(f"generate: prompt width {S} + max_new_tokens {N} exceeds max_seq_len "
                             f"({mcfg.max_seq_len})")
        buf = torch.full((B, S + N), pad, dtype=torch.long, device=device)
        buf[:, :S] = aligned
        step = _DecoderStepper(model, buf, cfg.use_cache)
    else:
        raise TypeError(f"generate: expected a DecoderModel or EncoderDecoderModel; got {type(model).__name__}")

    seen = None
    if cfg.repetition_penalty != 1.0:
        V = mcfg.vocab_size
        valid = torch.arange(buf.shape[1], device=device)[None] < lens[:, None]
        counts = torch.zeros(B, V, dtype=torch.long, device=device).scatter_add_(1, buf.clamp(0, V - 1), valid.long())
        seen = counts > 0  # (B, V): tokens present in the row's prompt

    logits = step.first(lens)  # (B, V): next-token logits of every row
    done = torch.zeros(B, dtype=torch.bool, device=device)
    new: List[Tensor] = []
    for t in range(N):
        nxt = _pick(logits, seen, cfg, gen)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        new.append(nxt)
        buf[rows, lens] = nxt
        lens = lens + 1
        if seen is not None:
            seen[rows, nxt] = True
        for e in eos:
            done = done | (nxt == e)
        if t + 1 == N or bool(done.all()):
            break
        logits = step.next(nxt, lens)
    out = torch.stack(new, 1) if new else buf[:, :0]
    if isinstance(model, EncoderDecoderModel):
        return torch.cat([buf[:, :1], out], 1)
    return torch.cat([input_ids, out], 1)


class _DecoderStepper:
    """Next-token logits for a left-aligned buffer (B, L), with or without the KV cache."""

    def __init__(self, model: DecoderModel, buf: Tensor, use_cache: bool):
        self.model, self.buf = model, buf
        self.cache = model.new_cache(buf.shape[0], buf.shape[1]) if use_cache else None

    def first(self, lens: Tensor) -> Tensor:
        rows = torch.arange(self.buf.shape[0], device=self.buf.device)
        width = int(lens.max())
        if self.cache is None:
            return self._full(lens)
        # Prefill: pads beyond lens[b] are written too but are overwritten by the next tokens before being read.
        logits: Tensor = self.model(self.buf[:, :width], cache=self.cache)  # (B, width, V)
        self.cache.seqlens = lens.to(torch.int32)
        return logits[rows, lens - 1]

    def _full(self, lens: Tensor) -> Tensor:
        rows = torch.arange(self.buf.shape[0], device=self.buf.device)
        # Causal attention on a left-aligned batch: a row never sees its own trailing padding, no mask needed.
        logits: Tensor = self.model(self.buf[:, :int(lens.max())])
        return logits[rows, lens - 1]

    def next(self, tokens: Tensor, lens: Tensor) -> Tensor:
        if self.cache is None:
            return self._full(lens)
        logits: Tensor = self.model(tokens[:, None], cache=self.cache)  # (B, 1, V)
        self.cache.seqlens = self.cache.seqlens + 1
        return logits[:, -1]


class _EncDecStepper:
    """Next-token logits of the decoder; the encoder output (and, with the cache, its projected cross-attention
    keys/values) is computed once."""

    def __init__(self, model: EncoderDecoderModel, memory: Tensor, memory_mask: Tensor, buf: Tensor,
                 use_cache: bool):
        self.model, self.memory, self.memory_mask, self.buf = model, memory, memory_mask, buf
        self.cache = model.new_cache(buf.shape[0], buf.shape[1]) if use_cache else None

    def first(self, lens: Tensor) -> Tensor:
        return self._run(self.buf[:, :1])

    def _run(self, ids: Tensor) -> Tensor:
        logits = self.model.decode(ids, self.memory, self.memory_mask, cache=self.cache)
        if self.cache is not None:
            self.cache.seqlens = self.cache.seqlens + ids.shape[1]
        return logits[:, -1]

    def next(self, tokens: Tensor, lens: Tensor) -> Tensor:
        if self.cache is None:
            return self._run(self.buf[:, :int(lens.max())])
        return self._run(tokens[:, None])
