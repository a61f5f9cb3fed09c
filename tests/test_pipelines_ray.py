"""Ray Data on a local cluster (ray.init(num_cpus=2), started once for the module): `map_batches` with
`fastlm.tokenize` and with `fastlm.TokenizeBatch` gives the single-process ids."""
from __future__ import annotations

import pytest

from conftest import IN_CI, data_path

import fastlm

try:
    import ray
except ImportError:  # pragma: no cover - depends on the environment
    ray = None


@pytest.fixture(scope="module")
def cluster():
    if ray is None:
        if IN_CI:
            pytest.fail("ray is a test dependency (pip install fastlm[test])")
        pytest.skip("ray is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             ignore_reinit_error=True)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # compare row by row with the single-process result
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus():
    p = data_path("text", "en_sherlock_holmes.txt")
    lines = [ln for ln in p.read_text(encoding="utf-8").split("\n") if ln.strip()][:3000]  # read_text drops empty lines
    return p, lines


def test_from_items_map_batches_tokenize(cluster, corpus):
    _, lines = corpus
    tok = fastlm.load(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken"))
    want = tok.encode_batch(lines, disallowed_special=())
    ds = cluster.data.from_items([{"text": t} for t in lines])
    out = ds.map_batches(lambda b: {"ids": fastlm.tokenize(list(b["text"]), tok)}, batch_size=500)
    assert [list(r["ids"]) for r in out.take_all()] == want


def test_read_text_tokenize_batch_arrow(cluster, corpus, tmp_path):
    path, lines = corpus
    small = tmp_path / "part.txt"
    small.write_text("\n".join(lines), encoding="utf-8")
    tok = fastlm.load(data_path("tokenizers", "bert-base-uncased", "tokenizer.json"))
    rows = cluster.data.read_text(str(small)).map_batches(
        fastlm.TokenizeBatch(tok), batch_format="pyarrow", batch_size=500).take_all()
    texts = [r["text"] for r in rows]
    assert texts == small.read_text(encoding="utf-8").splitlines()
    assert [list(r["input_ids"]) for r in rows] == tok(texts).ids  # with [CLS] ... [SEP], as fastlm.tokenize


def test_tokenizer_by_path_on_workers(cluster, corpus):
    """Workers load the file themselves (cached once per worker process): what a multi-node job does with a
    path on shared storage."""
    _, lines = corpus
    path = str(data_path("tokenizers", "sentencepiece", "llama2_tokenizer.model"))
    out = cluster.data.from_items([{"text": t} for t in lines[:1000]]).map_batches(
        fastlm.TokenizeBatch(path, add_special_tokens=False), batch_format="pyarrow", batch_size=250).take_all()
    assert [list(r["input_ids"]) for r in out] == fastlm.load(path).encode_batch(lines[:1000])


def test_actor_pool_with_class_udf(cluster, corpus):
    """The callable class as an actor UDF: each actor builds (unpickles) the tokenizer once."""
    _, lines = corpus
    tok = fastlm.load(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken"))
    out = cluster.data.from_items([{"text": t} for t in lines[:1000]]).map_batches(
        fastlm.TokenizeBatch, fn_constructor_kwargs={"tokenizer": tok}, concurrency=1, batch_format="pyarrow",
        batch_size=250).take_all()
    assert [list(r["input_ids"]) for r in out] == tok.encode_batch(lines[:1000], disallowed_special=())
