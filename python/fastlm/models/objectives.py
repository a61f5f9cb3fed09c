"""Training objectives, usable with fastlm models or standalone on tensors.

Dimension legend: B batch, S tokens, V vocabulary.

    clm_labels / clm_loss          causal LM with teacher forcing (labels = inputs shifted by one; -100 ignored)
    mask_tokens                    BERT MLM masking (15%; 80% [MASK] / 10% random / 10% kept), whole-word option
    word_ids_from_tokens           word index per token, for whole-word masking
    span_corruption                T5 span corruption (noise_density 0.15, mean_span_length 3) with sentinels
    sentinel_ids                   the tokenizer's <extra_id_i> ids
    shift_right                    encoder-decoder decoder inputs from targets
    sequence_logprobs, dpo_loss    DPO from policy / reference sequence log-probs
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


# ----------------------------------------------------------------------------------------------------------------
# CLM
# ----------------------------------------------------------------------------------------------------------------
def clm_labels(input_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
    """labels (B, S): labels[:, t] = input_ids[:, t + 1] (the token the model must predict after seeing 0..t);
    the last position and every target that is padding get -100."""
    labels = torch.full_like(input_ids, IGNORE)
    labels[:, :-1] = input_ids[:, 1:]
    if attention_mask is not None:
        labels[:, :-1] = labels[:, :-1].masked_fill(~attention_mask[:, 1:].bool(), IGNORE)
    return labels


def token_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over positions whose label is not -100. logits (B, S, V), labels (B, S)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)


def clm_loss(logits: Tensor, input_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
    """Teacher-forced causal LM loss: logits (B, S, V) from a model fed the GOLD input_ids (B, S)."""
    return token_cross_entropy(logits, clm_labels(input_ids, attention_mask))


# ----------------------------------------------------------------------------------------------------------------
# MLM
# ----------------------------------------------------------------------------------------------------------------
def word_ids_from_tokens(tokenizer: Any, ids: Sequence[int]) -> List[int]:
    """Word index of each token (-1 for special tokens), from the token strings: a token starts a new word unless
    it is a WordPiece continuation ('##...') or, for byte-level / metaspace vocabularies, it does not begin with
    a space / 'Ġ' / '▁' and follows a non-special token."""
    specials = set(tokenizer.special_tokens.values()) if hasattr(tokenizer, "special_tokens") else set()
    out, word, prev_special = [], -1, True
    for i in ids:
        if i in specials:
            out.append(-1)
            prev_special = True
            continue
        raw = tokenizer.decode_single_token_bytes(i) if hasattr(tokenizer, "decode_single_token_bytes") else b""
        tok = tokenizer.id_to_token(i) or ""
        if tok.startswith("##"):
            starts = False
        else:
            starts = raw[:1] in (b" ", b"\n", b"\t") or tok[:1] in ("Ġ", "▁", "Ċ") or not tok[:1].isalnum()
        if starts or prev_special or word < 0:
            word += 1
        out.append(word)
        prev_special = False
    return out


def mask_tokens(input_ids: Tensor, *, mask_token_id: int, vocab_size: int, mlm_probability: float = 0.15,
                special_tokens_mask: Optional[Tensor] = None, special_ids: Iterable[int] = (),
                word_ids: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
                ) -> Tuple[Tensor, Tensor]:
    """BERT masking. Returns (inputs, labels), both (B, S).

    Each non-special token is selected with probability mlm_probability (with word_ids (B, S), whole words are
    selected instead: every token of a selected word, -1 = not a word). Of the selected tokens, 80% become
    mask_token_id, 10% a uniformly random token and 10% stay unchanged; labels hold the original id at selected
    positions and -100 elsewhere. special_tokens_mask (B, S) (1 = special) and/or special_ids are never selected.
    """
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mask_tokens: mlm_probability must be in (0, 1); got {mlm_probability!r}")
    dev = input_ids.device

    def rand(shape: Sequence[int]) -> Tensor:
        return torch.rand(shape, generator=generator, device=dev)

    special = torch.zeros_like(input_ids, dtype=torch.bool)
    if special_tokens_mask is not None:
        special |= special_tokens_mask.bool()
    for s in special_ids:
        special |= input_ids == s
    if word_ids is None:
        selected = (rand(input_ids.shape) < mlm_probability) & ~special
    else:
        if word_ids.shape != input_ids.shape:
            raise ValueError("mask_tokens: word_ids must have the shape of input_ids")
        n_words = int(word_ids.max()) + 1 if word_ids.numel() else 0
        pick = rand((input_ids.shape[0], max(n_words, 1))) < mlm_probability  # (B, W) chosen words
        in_word = word_ids >= 0
        selected = pick.gather(1, word_ids.clamp(min=0)) & in_word & ~special
    labels = input_ids.masked_fill(~selected, IGNORE)
    r = rand(input_ids.shape)
    to_mask = selected & (r < 0.8)
    to_random = selected & (r >= 0.8) & (r < 0.9)
    inputs = input_ids.masked_fill(to_mask, mask_token_id)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, device=dev)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels


# ----------------------------------------------------------------------------------------------------------------
# T5 span corruption
# ----------------------------------------------------------------------------------------------------------------
def sentinel_ids(tokenizer: Any, n: int = 100) -> List[int]:
    """ids of '<extra_id_0>', '<extra_id_1>', ... that the tokenizer has (at least one is required)."""
    out = []
    for i in range(n):
        tid = tokenizer.token_to_id(f"<extra_id_{i}>")
        if tid is None:
            break
        out.append(int(tid))
    if not out:
        raise ValueError("sentinel_ids: the tokenizer has no '<extra_id_0>' token; train it with "
                         "special_tokens=[f'<extra_id_{i}>' for i in range(k)]")
    return out


def _span_lengths(total: int, n_spans: int, gen: Optional[torch.Generator]) -> List[int]:
    """Split `total` into n_spans random positive parts (uniform over compositions)."""
    if n_spans <= 1:
        return [total]
    cuts = torch.randperm(total - 1, generator=gen)[: n_spans - 1].sort().values + 1
    edges = [0] + cuts.tolist() + [total]
    return [edges[i + 1] - edges[i] for i in range(n_spans)]


def noise_mask(length: int, *, noise_density: float = 0.15, mean_span_length: float = 3.0,
               generator: Optional[torch.Generator] = None) -> List[bool]:
    """T5's random span noise mask: round(length * density) noise tokens (at least 1) in
    round(noise / mean_span_length) spans (at least 1), alternating with non-noise spans; starts with non-noise."""
    if length < 2:
        raise ValueError("span corruption needs sequences of at least 2 tokens")
    n_noise = min(max(int(round(length * noise_density)), 1), length - 1)
    n_spans = max(int(round(n_noise / mean_span_length)), 1)
    n_spans = min(n_spans, n_noise, length - n_noise)
    noise_lens = _span_lengths(n_noise, n_spans, generator)
    keep_lens = _span_lengths(length - n_noise, n_spans, generator)
    out: List[bool] = []
    for k, z in zip(keep_lens, noise_lens):
        out += [False] * k + [True] * z
    return out


def span_corruption(ids: Sequence[int], *, sentinels: Sequence[int], noise_density: float = 0.15,
                    mean_span_length: float = 3.0, eos_id: Optional[int] = None,
                    generator: Optional[torch.Generator] = None) -> Tuple[List[int], List[int]]:
    """One sequence -> (inputs, targets). Each noise span in the inputs is replaced by the next sentinel; targets
    are each sentinel followed by the span it replaced, then one more sentinel ending the targets (T5 layout);
    eos_id, if given, is appended to both."""
    ids = list(ids)
    mask = noise_mask(len(ids), noise_density=noise_density, mean_span_length=mean_span_length,
                      generator=generator)
    n_spans = sum(1 for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1]))
    if n_spans + 1 > len(sentinels):
        raise ValueError(f"span_corruption: {n_spans} spans need {n_spans + 1} sentinels, tokenizer has "
                         f"{len(sentinels)}; use shorter sequences or more <extra_id_i> tokens")
    inputs, targets, span = [], [], -1
    for i, (tok, m) in enumerate(zip(ids, mask)):
        if m:
            if i == 0 or not mask[i - 1]:
                span += 1
                inputs.append(sentinels[span])
                targets.append(sentinels[span])
            targets.append(tok)
        else:
            inputs.append(tok)
    targets.append(sentinels[span + 1])
    if eos_id is not None:
        inputs.append(eos_id)
        targets.append(eos_id)
    return inputs, targets


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, *, value_for_labels: Optional[int] = None
              ) -> Tuple[Tensor, Tensor]:
    """Right-pad lists of ids -> (ids (B, S), attention_mask (B, S)). value_for_labels replaces pad_id in ids."""
    S = max(len(s) for s in seqs)
    fill = pad_id if value_for_labels is None else value_for_labels
    ids = torch.full((len(seqs), S), fill, dtype=torch.long)
    mask = torch.zeros((len(seqs), S), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


def shift_right(labels: Tensor, start_id: int, pad_id: int) -> Tensor:
    """Decoder inputs (B, S) for teacher forcing: [start, labels[:, :-1]] with -100 replaced by pad_id."""
    out = torch.full_like(labels, pad_id)
    out[:, 0] = start_id
    out[:, 1:] = labels[:, :-1]
    return out.masked_fill(out == IGNORE, pad_id)


# ----------------------------------------------------------------------------------------------------------------
# DPO
# ----------------------------------------------------------------------------------------------------------------
def sequence_logprobs(model: Callable[[Tensor, Optional[Tensor]], Tensor], input_ids: Tensor, response_mask: Tensor,
                      attention_mask: Optional[Tensor] = None) -> Tensor:
    """Sum of log p(token | previous tokens) over the response tokens of each row -> (B,).

    input_ids (B, S) prompt + response (right-padded); response_mask (B, S) 1 at response tokens (the tokens
    whose probability counts). `model(input_ids, attention_mask)` must return next-token logits (B, S, V).
    """
    logits = model(input_ids, attention_mask)  # (B, S, V)
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, S-1, V): predicts tokens 1..S-1
    tok = logp.gather(-1, input_ids[:, 1:, None])[..., 0]  # (B, S-1)
    return (tok * response_mask[:, 1:].to(tok.dtype)).sum(-1)


def dpo_loss(policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, *,
             beta: float = 0.1) -> Tuple[Tensor, Tensor, Tensor]:
    """Direct Preference Optimization loss from sequence log-probs (each (B,)).

    loss = -log sigmoid(beta * ((pc - rc) - (pr - rr))), averaged. Returns (loss, chosen_rewards,
    rejected_rewards), rewards = beta * (policy - reference) (detached). Minimizing it raises the policy's
    log-prob of chosen answers and lowers that of rejected ones, relative to the reference.
    """
    if beta <= 0:
        raise ValueError(f"dpo_loss: beta must be > 0; got {beta!r}")
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    loss = -F.logsigmoid(beta * margin).mean()
    return loss, beta * (policy_chosen - ref_chosen).detach(), beta * (policy_rejected - ref_rejected).detach()
