"""Objectives: CLM teacher forcing, MLM masking rates (statistical), whole-word masking, T5 span corruption
reassembly, DPO loss gradient sign and the sequence log-prob helper."""
import math

import pytest

torch = pytest.importorskip("torch")

from fastlm.models import DecoderModel, ModelConfig  # noqa: E402
from fastlm.models import objectives as O  # noqa: E402


def test_clm_labels_shift_and_ignore_padding():
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert O.clm_labels(ids, mask).tolist() == [[6, 7, 8, -100], [10, -100, -100, -100]]


def test_clm_loss_is_teacher_forced_token_mean():
    torch.manual_seed(0)
    m = DecoderModel(ModelConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_seq_len=16))
    ids = torch.randint(0, 50, (2, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    logits = m(ids, mask)
    loss = O.clm_loss(logits, ids, mask)
    # by hand: position t predicts gold token t+1 (the model was fed gold tokens, not its own predictions)
    terms = [-torch.log_softmax(logits[b, t], -1)[ids[b, t + 1]] for b in range(2) for t in range(5)
             if mask[b, t + 1]]
    torch.testing.assert_close(loss, torch.stack(terms).mean())
    # teacher forcing: changing the last token changes no logit before it
    ids2 = ids.clone()
    ids2[0, -1] = (ids[0, -1] + 1) % 50
    torch.testing.assert_close(m(ids2, mask)[0, :-1], logits[0, :-1])


def test_mlm_rates_are_right():
    g = torch.Generator().manual_seed(0)
    B, S, V, MASK = 200, 500, 1000, 3
    ids = torch.randint(10, V, (B, S), generator=g)
    ids[:, 0] = 1  # a special token at each row start, and a special-token mask at the end
    stm = torch.zeros_like(ids)
    stm[:, -1] = 1
    inputs, labels = O.mask_tokens(ids, mask_token_id=MASK, vocab_size=V, special_ids=[1],
                                   special_tokens_mask=stm, generator=g)
    sel = labels != -100
    n = (S - 2) * B  # selectable tokens
    rate = sel.sum().item() / n
    assert abs(rate - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    assert not sel[:, 0].any() and not sel[:, -1].any()
    assert torch.equal(labels[sel], ids[sel]) and torch.equal(inputs[~sel], ids[~sel])
    k = sel.sum().item()
    masked = (inputs[sel] == MASK).float().mean().item()
    kept = (inputs[sel] == ids[sel]).float().mean().item()  # includes random draws that hit the same id (1/V)
    other = 1 - masked - kept
    tol = 4 * math.sqrt(0.25 / k)
    assert abs(masked - 0.8) < tol and abs(kept - 0.1) < tol and abs(other - 0.1) < tol


def test_whole_word_masking_masks_whole_words():
    g = torch.Generator().manual_seed(1)
    B, W = 64, 100
    word_len = torch.randint(1, 4, (W,), generator=g)
    word_ids = torch.repeat_interleave(torch.arange(W), word_len)[None].repeat(B, 1)  # (B, S)
    word_ids[:, 0] = -1  # a special position
    ids = torch.randint(10, 500, word_ids.shape, generator=g)
    _, labels = O.mask_tokens(ids, mask_token_id=3, vocab_size=500, word_ids=word_ids, generator=g)
    sel = labels != -100
    assert not sel[:, 0].any()
    for b in range(B):
        for w in range(W):
            s = sel[b][word_ids[b] == w]
            if len(s):
                assert s.all() or not s.any()
    words_hit = sum(len(set(word_ids[b][sel[b]].tolist())) for b in range(B)) / (B * W)
    assert abs(words_hit - 0.15) < 0.03


def test_word_ids_from_tokenizer_boundaries():
    import fastlm
    tok = fastlm.train("bpe", ["the cat sat on the mat, the hat " * 50], vocab_size=300, progress=False,
                       special_tokens=["<mask>"])
    ids = tok.encode("the cat sat on the mat", allowed_special="all")
    wid = O.word_ids_from_tokens(tok, ids)
    assert len(set(wid)) == 6 and wid == sorted(wid)


def _reassemble(inputs, targets, sentinels):
    spans, cur = {}, None
    for t in targets:
        if t in sentinels:
            cur = t
            spans[cur] = []
        else:
            spans[cur].append(t)
    out = []
    for t in inputs:
        out.extend(spans[t] if t in sentinels else [t])
    return out


@pytest.mark.parametrize("length", [2, 5, 37, 200, 511])
def test_span_corruption_reassembles(length):
    g = torch.Generator().manual_seed(length)
    sentinels = list(range(1000, 1100))
    total_noise = total = 0
    for _ in range(20):
        ids = torch.randint(0, 1000, (length,), generator=g).tolist()
        inputs, targets = O.span_corruption(ids, sentinels=sentinels, generator=g)
        assert _reassemble(inputs, targets, sentinels) == ids
        assert targets[0] == sentinels[0] and targets[-1] in sentinels
        noise = len(targets) - sum(t in sentinels for t in targets)
        total_noise += noise
        total += length
    if length >= 200:
        assert abs(total_noise / total - 0.15) < 0.01
        mask = O.noise_mask(length, generator=g)
        n_spans = sum(1 for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1]))
        assert n_spans == round(round(length * 0.15) / 3)


def test_shift_right():
    labels = torch.tensor([[5, 6, -100]])
    assert O.shift_right(labels, 0, 9).tolist() == [[0, 5, 6]]


def test_dpo_gradient_sign():
    pc = torch.tensor([-5.0, -3.0], requires_grad=True)
    pr = torch.tensor([-4.0, -6.0], requires_grad=True)
    rc, rr = torch.tensor([-5.0, -4.0]), torch.tensor([-4.0, -5.0])
    loss, cr, rj = O.dpo_loss(pc, pr, rc, rr, beta=0.5)
    loss.backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()  # descent raises chosen, lowers rejected
    margin = (pc - rc) - (pr - rr)
    torch.testing.assert_close(loss, -torch.nn.functional.logsigmoid(0.5 * margin).mean())
    torch.testing.assert_close(cr, 0.5 * (pc - rc).detach())


def test_sequence_logprobs_and_dpo_step_improves_preference():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=40, d_model=32, n_layers=1, n_heads=2, d_ff=64, max_seq_len=16)
    policy, ref = DecoderModel(cfg), DecoderModel(cfg)
    ref.load_state_dict(policy.state_dict())
    prompt = [5, 6, 7]
    chosen = torch.tensor([prompt + [8, 9, 10]])
    rejected = torch.tensor([prompt + [11, 12, 13]])
    resp = torch.tensor([[0, 0, 0, 1, 1, 1]])
    lp = O.sequence_logprobs(policy, chosen, resp)
    logits = policy(chosen)
    by_hand = sum(torch.log_softmax(logits[0, t - 1], -1)[chosen[0, t]] for t in range(3, 6))
    torch.testing.assert_close(lp[0], by_hand)
    opt = torch.optim.SGD(policy.parameters(), lr=0.5)
    with torch.no_grad():
        rc, rr = O.sequence_logprobs(ref, chosen, resp), O.sequence_logprobs(ref, rejected, resp)
    for _ in range(3):
        loss, _, _ = O.dpo_loss(O.sequence_logprobs(policy, chosen, resp),
                                O.sequence_logprobs(policy, rejected, resp), rc, rr, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        gap = (O.sequence_logprobs(policy, chosen, resp) - rc) - (O.sequence_logprobs(policy, rejected, resp) - rr)
    assert gap.item() > 0.1
